package vm

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"0", true},
		{"web-1", true},
		{"brave-otter", true},
		{"a-", true}, // allowed by the documented pattern
		{strings.Repeat("a", 63), true},
		{"", false},
		{"-a", false},
		{"Web", false},
		{"a_b", false},
		{"a.b", false},
		{"a b", false},
		{"a/b", false},
		{"a\n", false},
		{"é", false},
		{strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestGenerateNameIsAdjectiveNoun(t *testing.T) {
	for range 200 {
		n := GenerateName(func(string) bool { return false })
		adj, noun, ok := strings.Cut(n, "-")
		if !ok || !slices.Contains(adjectives, adj) || !slices.Contains(nouns, noun) {
			t.Fatalf("GenerateName = %q, want adjective-noun", n)
		}
		if err := ValidateName(n); err != nil {
			t.Fatalf("generated name is not valid: %v", err)
		}
	}
}

func TestGenerateNameUnique(t *testing.T) {
	taken := map[string]bool{}
	// More names than adjective-noun pairs, so the numbered fallback is
	// exercised too.
	n := len(adjectives)*len(nouns) + 50
	for range n {
		name := GenerateName(func(s string) bool { return taken[s] })
		if taken[name] {
			t.Fatalf("GenerateName returned taken name %q", name)
		}
		if err := ValidateName(name); err != nil {
			t.Fatalf("generated name is not valid: %v", err)
		}
		taken[name] = true
	}
}

func TestGenerateNameFallsBackToNumbered(t *testing.T) {
	// Every plain adjective-noun is taken.
	n := GenerateName(func(s string) bool { return strings.Count(s, "-") == 1 })
	parts := strings.Split(n, "-")
	if len(parts) != 3 || !slices.Contains(adjectives, parts[0]) || !slices.Contains(nouns, parts[1]) || parts[2] != "2" {
		t.Fatalf("GenerateName = %q, want adjective-noun-2", n)
	}
}
