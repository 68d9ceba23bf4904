package ikev1_test

import "fmt"

func fmtSscanf(s string, v *uint32) (int, error) { return fmt.Sscanf(s, "%x", v) }
