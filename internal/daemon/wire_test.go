package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/image"
	"banger/internal/vm"
)

func TestAPIErrorMapping(t *testing.T) {
	ctx := context.WithValue(context.Background(), opKey{}, "cafe0001")
	tests := []struct {
		name string
		err  error
		kind string
		code int
	}{
		{"not found", fmt.Errorf("VM %q: %w", "x", vm.ErrNotFound), api.KindNotFound, 404},
		{"no recipe", fmt.Errorf("image x: %w", image.ErrNoRecipe), api.KindNotFound, 404},
		{"already exists", fmt.Errorf("name: %w", image.ErrAlreadyExists), api.KindAlreadyExists, 409},
		{"in use", fmt.Errorf("image: %w", image.ErrInUse), api.KindInUse, 409},
		{"bad request", fmt.Errorf("wrapped: %w", vm.ErrBadRequest), api.KindBadRequest, 400},
		{"invalid image request", fmt.Errorf("image x: %w", image.ErrInvalid), api.KindBadRequest, 400},
		{"invalid and not found", fmt.Errorf("%w: %w", image.ErrInvalid, image.ErrNotFound), api.KindBadRequest, 400},
		{"other", errors.New("disk on fire"), api.KindFailed, 500},
		{"api error", &api.Error{Kind: api.KindBadRequest, Message: "decode"}, api.KindBadRequest, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, code := apiError(ctx, tt.err)
			if e.Kind != tt.kind || code != tt.code || e.OpID != "cafe0001" {
				t.Fatalf("apiError = %+v, %d; want kind %s code %d op cafe0001", e, code, tt.kind, tt.code)
			}
			if !strings.Contains(e.Message, strings.TrimSuffix(tt.err.Error(), " (op cafe0001)")) {
				t.Fatalf("message %q lost the error %q", e.Message, tt.err)
			}
		})
	}
}
