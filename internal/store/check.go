package store

import "fmt"

// The argument checks every implementation makes, so that they agree on
// what ErrInvalidArgument means.

// CheckKey returns an error wrapping ErrInvalidArgument for an empty key.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	}
	return nil
}

// CheckRevision returns an error wrapping ErrInvalidArgument for a
// negative revision.
func CheckRevision(rev int64) error {
	if rev < 0 {
		return fmt.Errorf("%w: negative revision", ErrInvalidArgument)
	}
	return nil
}

// CheckTxn checks the arguments of a Txn: every key non-empty, every
// revision non-negative, every op a put or a delete, no key in two ops.
// Errors wrap ErrInvalidArgument.
func CheckTxn(cmps []Cmp, ops []Op) error {
	for _, c := range cmps {
		if err := CheckKey(c.Key); err != nil {
			return err
		}
		if c.ModRevision < 0 {
			return fmt.Errorf("%w: negative revision for %q", ErrInvalidArgument, c.Key)
		}
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if err := CheckKey(op.Key); err != nil {
			return err
		}
		if op.Type != OpPut && op.Type != OpDelete {
			return fmt.Errorf("%w: unknown op type %d", ErrInvalidArgument, op.Type)
		}
		if seen[op.Key] {
			return fmt.Errorf("%w: key %q appears twice in one txn", ErrInvalidArgument, op.Key)
		}
		seen[op.Key] = true
	}
	return nil
}
