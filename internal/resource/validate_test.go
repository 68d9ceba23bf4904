package resource

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// vcase is one Validate rule: mut breaks (or keeps) a valid base object;
// code "" means the result must pass.
type vcase[T Object] struct {
	name   string
	mut    func(T)
	code   string
	target string
	msg    []string
}

func runValidate[T Object](t *testing.T, base func() T, cases []vcase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			if c.mut != nil {
				c.mut(o)
			}
			if err := Prepare(o, nil, rand.NewChaCha8([32]byte{9})); err != nil {
				t.Fatal(err)
			}
			expectErr(t, Validate(o), c.code, c.target, c.msg...)
		})
	}
}

func TestValidateEnvelope(t *testing.T) {
	runValidate(t, func() *PublicIPAddress { return newPIP("pip1") }, []vcase[*PublicIPAddress]{
		{name: "valid"},
		{name: "name with dots, hyphens, underscore end", mut: func(p *PublicIPAddress) { p.Name = "a.b-c_" }},
		{name: "name bad char", mut: func(p *PublicIPAddress) { p.Name = "a b" }, code: CodeInvalidResourceName, target: "name"},
		{name: "name starts with hyphen", mut: func(p *PublicIPAddress) { p.Name = "-ab" }, code: CodeInvalidResourceName, target: "name", msg: []string{"start"}},
		{name: "name ends with period", mut: func(p *PublicIPAddress) { p.Name = "ab." }, code: CodeInvalidResourceName, target: "name", msg: []string{"end"}},
		{name: "name 80 chars", mut: func(p *PublicIPAddress) { p.Name = strings.Repeat("a", 80) }},
		{name: "name 81 chars", mut: func(p *PublicIPAddress) { p.Name = strings.Repeat("a", 81) }, code: CodeInvalidResourceName, target: "name"},
		{name: "location missing", mut: func(p *PublicIPAddress) { p.Location = " " }, code: CodeInvalidLocation, target: "location"},
		{name: "50 tags", mut: func(p *PublicIPAddress) { p.Tags = nTags(50) }},
		{name: "51 tags", mut: func(p *PublicIPAddress) { p.Tags = nTags(51) }, code: CodeInvalidTag, target: "tags"},
		{name: "tag name 513", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{strings.Repeat("k", 513): "v"} }, code: CodeInvalidTag, target: "tags." + strings.Repeat("k", 513)},
		{name: "tag value 257", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{"k": strings.Repeat("v", 257)} }, code: CodeInvalidTag, target: "tags.k"},
		{name: "tag name bad char", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{"a/b": "v"} }, code: CodeInvalidTag, target: "tags.a/b"},
		{name: "tag empty name", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{"": "v"} }, code: CodeInvalidTag, target: "tags"},
	})
}

func nTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}
