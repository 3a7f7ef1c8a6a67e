package vm

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateName checks a VM name against [a-z0-9][a-z0-9-]{0,62}.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("VM name %q: use 1-63 lowercase letters, digits and '-', starting with a letter or digit", name)
	}
	return nil
}

var adjectives = []string{
	"amber", "brave", "calm", "clever", "cosy", "crisp", "dapper", "eager", "fancy", "gentle",
	"glad", "golden", "happy", "jolly", "keen", "lively", "lucky", "mellow", "misty", "nimble",
	"plucky", "proud", "quick", "quiet", "rapid", "rosy", "shiny", "snug", "sunny", "swift",
	"tidy", "witty",
}

var nouns = []string{
	"badger", "beaver", "bison", "crane", "dingo", "falcon", "ferret", "finch", "gecko", "heron",
	"ibis", "koala", "lemur", "lynx", "marmot", "moose", "newt", "okapi", "otter", "panda",
	"puffin", "quokka", "raven", "robin", "seal", "stoat", "tapir", "toucan", "walrus", "wombat",
	"yak", "zebra",
}

func pick(list []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	if err != nil {
		return list[0]
	}
	return list[n.Int64()]
}

// GenerateName returns an adjective-noun name not in taken.
func GenerateName(taken func(string) bool) string {
	for i := 0; i < 50; i++ {
		n := pick(adjectives) + "-" + pick(nouns)
		if !taken(n) {
			return n
		}
	}
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s-%s-%d", pick(adjectives), pick(nouns), i)
		if !taken(n) {
			return n
		}
	}
}
