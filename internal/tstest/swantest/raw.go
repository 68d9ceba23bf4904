package swantest

import (
	"sort"
	"strings"
)

// SAs lists charon's IKE SAs (swanctl --list-sas --raw, parsed). Parsing
// swanctl's raw output proved more reliable than govici's streamed
// list-sas, which sometimes returned no events.
func (d *Daemon) SAs() ([]IKESA, error) {
	out, err := d.Swanctl("--list-sas", "--raw")
	if err != nil {
		return nil, err
	}
	return parseListSAs(out), nil
}

func parseListSAs(out string) []IKESA {
	var res []IKESA
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "list-sa event {") {
			continue
		}
		toks := rawTokens(strings.TrimPrefix(line, "list-sa event "))
		m, _ := parseRawSection(toks, 1)
		for name, v := range m {
			sm, ok := v.(map[string]any)
			if !ok {
				continue
			}
			ike := IKESA{Name: name, State: rs(sm, "state"), Encr: rs(sm, "encr-alg") + rs(sm, "encr-keysize"),
				Integ: rs(sm, "integ-alg"), PRF: rs(sm, "prf-alg"), DH: rs(sm, "dh-group"),
				Initiator: rs(sm, "initiator"), SPIi: rs(sm, "initiator-spi"), SPIr: rs(sm, "responder-spi")}
			if cm, ok := sm["child-sas"].(map[string]any); ok {
				for _, cv := range cm {
					c, ok := cv.(map[string]any)
					if !ok {
						continue
					}
					ike.Children = append(ike.Children, ChildSA{
						Name: rs(c, "name"), State: rs(c, "state"), SPIIn: rs(c, "spi-in"), SPIOut: rs(c, "spi-out"),
						Encr: rs(c, "encr-alg") + rs(c, "encr-keysize"), Integ: rs(c, "integ-alg"), DH: rs(c, "dh-group"),
						LocalTS: rl(c, "local-ts"), RemoteTS: rl(c, "remote-ts"),
						BytesIn: rs(c, "bytes-in"), BytesOut: rs(c, "bytes-out"),
					})
				}
				sort.Slice(ike.Children, func(i, j int) bool { return ike.Children[i].SPIIn < ike.Children[j].SPIIn })
			}
			res = append(res, ike)
		}
	}
	sort.Slice(res, func(i, j int) bool { return res[i].SPIi < res[j].SPIi })
	return res
}

// rawTokens splits swanctl's --raw output into words and the punctuation
// { } [ ].
func rawTokens(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '{', '}', '[', ']':
			flush()
			out = append(out, string(r))
		case ' ', '\t':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

// parseRawSection parses "key=value", "key {section}" and "key [list]"
// items from toks[i:] up to the matching "}", returning the section and
// the index after it.
func parseRawSection(toks []string, i int) (map[string]any, int) {
	m := map[string]any{}
	for i < len(toks) {
		t := toks[i]
		switch {
		case t == "}":
			return m, i + 1
		case i+1 < len(toks) && toks[i+1] == "{":
			sub, next := parseRawSection(toks, i+2)
			m[t] = sub
			i = next
		case i+1 < len(toks) && toks[i+1] == "[":
			var list []string
			j := i + 2
			for j < len(toks) && toks[j] != "]" {
				list = append(list, toks[j])
				j++
			}
			m[t] = list
			i = j + 1
		default:
			if k, v, ok := strings.Cut(t, "="); ok {
				m[k] = v
			}
			i++
		}
	}
	return m, i
}

func rs(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

func rl(m map[string]any, k string) []string {
	v, _ := m[k].([]string)
	return v
}
