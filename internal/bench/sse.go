package bench

import (
	"context"
	"errors"
)

func startSSEMin() (*peer, error) { return nil, errors.New("not yet") }

func runSSEFanout(ctx context.Context, cfg *Config, r *Result) error { return errors.New("not yet") }

func runSSEP99(ctx context.Context, cfg *Config, r *Result) error { return errors.New("not yet") }
