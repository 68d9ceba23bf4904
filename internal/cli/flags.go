package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Flag annotations understood by the resource commands' argument handling.
const (
	annNargs   = "vpngw-nargs"    // the flag takes space-separated values (az's nargs='+')
	annTriBool = "vpngw-tribool"  // the flag takes an optional true/false value
	annAliasOf = "vpngw-alias-of" // the flag is another name of the named flag
)

// listValue is a flag that takes several values as az does: space-separated
// after one flag ("--address-prefixes 10.0.0.0/16 10.1.0.0/16") or by
// repeating the flag. Values are not split on commas.
type listValue struct{ v *[]string }

func (l listValue) Set(s string) error { *l.v = append(*l.v, s); return nil }
func (l listValue) Type() string       { return "strings" }
func (l listValue) String() string     { return strings.Join(*l.v, " ") }

// addList registers a multi-valued flag.
func addList(f *pflag.FlagSet, p *[]string, name, short, usage string) *pflag.Flag {
	f.VarP(listValue{p}, name, short, usage)
	fl := f.Lookup(name)
	setAnn(fl, annNargs)
	return fl
}

// optBool is a three-state boolean: unset, true or false. Like az's boolean
// arguments it accepts "--flag", "--flag true" and "--flag false".
type optBool struct {
	set bool
	val bool
}

func (b *optBool) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "yes", "1", "on":
		b.set, b.val = true, true
	case "false", "no", "0", "off":
		b.set, b.val = true, false
	default:
		return fmt.Errorf("invalid value %q: allowed values: false, true", s)
	}
	return nil
}
func (b *optBool) Type() string { return "bool" }
func (b *optBool) String() string {
	if b.set {
		return strconv.FormatBool(b.val)
	}
	return "false"
}

// addBool registers a three-state boolean flag.
func addBool(f *pflag.FlagSet, b *optBool, name, usage string) {
	f.Var(b, name, usage)
	fl := f.Lookup(name)
	fl.NoOptDefVal = "true"
	setAnn(fl, annTriBool)
}

// enumValue is a string flag restricted to a set of values, matched
// case-insensitively and stored in the canonical spelling (as az does).
type enumValue struct {
	v       *string
	allowed []string
}

func (e enumValue) Set(s string) error {
	for _, a := range e.allowed {
		if strings.EqualFold(a, s) {
			*e.v = a
			return nil
		}
	}
	return fmt.Errorf("invalid value %q: allowed values: %s", s, strings.Join(e.allowed, ", "))
}
func (e enumValue) Type() string   { return "string" }
func (e enumValue) String() string { return *e.v }

// addEnum registers an enumerated flag; usage gets the accepted values.
func addEnum(f *pflag.FlagSet, p *string, name, short, usage string, allowed []string) {
	sorted := slices.Clone(allowed)
	slices.SortFunc(sorted, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	usage += " Accepted values: " + strings.Join(sorted, ", ") + "."
	if *p != "" {
		usage += " Default: " + *p + "."
	}
	f.VarP(enumValue{p, allowed}, name, short, usage)
	f.Lookup(name).DefValue = "" // the default is in the usage text, az style
}

// addAlias registers name as a hidden second spelling of flag of. The two
// share one value.
func addAlias(f *pflag.FlagSet, of, name, short string) {
	orig := f.Lookup(of)
	f.VarP(orig.Value, name, short, orig.Usage)
	fl := f.Lookup(name)
	fl.NoOptDefVal = orig.NoOptDefVal
	fl.Hidden = true
	if fl.Annotations == nil {
		fl.Annotations = map[string][]string{}
	}
	fl.Annotations[annAliasOf] = []string{of}
	for k, v := range orig.Annotations {
		if k != annAliasOf {
			fl.Annotations[k] = v
		}
	}
}

func setAnn(fl *pflag.Flag, key string) {
	if fl.Annotations == nil {
		fl.Annotations = map[string][]string{}
	}
	fl.Annotations[key] = []string{"true"}
}

func hasAnn(fl *pflag.Flag, key string) bool {
	_, ok := fl.Annotations[key]
	return ok
}

// changed reports whether the named flag, or one of its aliases, was given.
func changed(f *pflag.FlagSet, name string) bool {
	if fl := f.Lookup(name); fl != nil && fl.Changed {
		return true
	}
	found := false
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed && slices.Contains(fl.Annotations[annAliasOf], name) {
			found = true
		}
	})
	return found
}

// rewriteArgs turns az's argument conventions into what pflag parses:
// space-separated values after a multi-valued flag become repeated flags
// ("--tags a=b c=d" → "--tags a=b --tags c=d"), and a true/false after a
// three-state boolean is attached to it ("--enable-bgp false" →
// "--enable-bgp=false"). Everything else passes through unchanged.
func rewriteArgs(f *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		var fl *pflag.Flag
		var name string
		var hasValue bool
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, hasValue = strings.Cut(a[2:], "=")
			fl = f.Lookup(name)
		case len(a) == 2 && a[0] == '-':
			if fl = f.ShorthandLookup(a[1:]); fl != nil {
				name = fl.Name
			}
		default:
			out = append(out, a)
			continue
		}
		switch {
		case fl == nil:
			out = append(out, a)
		case hasAnn(fl, annTriBool):
			if !hasValue && i+1 < len(args) && isBoolWord(args[i+1]) {
				out = append(out, "--"+name+"="+args[i+1])
				i++
			} else {
				out = append(out, a)
			}
		case hasAnn(fl, annNargs):
			if !hasValue {
				if i+1 >= len(args) {
					out = append(out, a) // pflag reports the missing value
					continue
				}
				i++
				out = append(out, "--"+name+"="+args[i])
			} else {
				out = append(out, a)
			}
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				out = append(out, "--"+name+"="+args[i])
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

func isBoolWord(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no":
		return true
	}
	return false
}
