package promtext

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads an exposition with Prometheus's own parser, the oracle.
func parse(t testing.TB, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Prometheus's parser refused the exposition: %v\n%s", err, b)
	}
	return fams
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name   string
		write  func(w *Writer)
		want   string
		labels map[string]string // the first sample's labels, as parsed
		value  float64           // the first sample's value, as parsed
	}{
		{
			name: "gauge without labels",
			write: func(w *Writer) {
				w.Family("up_things", "Things that are up.", Gauge)
				w.Sample("up_things", 3)
			},
			want:  "# HELP up_things Things that are up.\n# TYPE up_things gauge\nup_things 3\n",
			value: 3,
		},
		{
			name: "counter with labels",
			write: func(w *Writer) {
				w.Family("sa_packets_total", "Packets.", Counter)
				w.Sample("sa_packets_total", 18446744073709551615, "connection", "hq", "direction", "out")
			},
			want:   "# HELP sa_packets_total Packets.\n# TYPE sa_packets_total counter\nsa_packets_total{connection=\"hq\",direction=\"out\"} 18446744073709551615\n",
			labels: map[string]string{"connection": "hq", "direction": "out"},
			value:  18446744073709551615,
		},
		{
			name: "escapes in help and labels",
			write: func(w *Writer) {
				w.Family("x", "a \\ b\nc \"d\"", Gauge)
				w.Sample("x", 1, "user", "a\\b\"c\nd")
			},
			want:   "# HELP x a \\\\ b\\nc \"d\"\n# TYPE x gauge\nx{user=\"a\\\\b\\\"c\\nd\"} 1\n",
			labels: map[string]string{"user": "a\\b\"c\nd"},
			value:  1,
		},
		{
			name: "invalid UTF-8 replaced, valid kept",
			write: func(w *Writer) {
				w.Family("x", "h", Gauge)
				w.Sample("x", 1, "user", "bad\xff\xfe-é-日本-\xc3")
			},
			want:   "# HELP x h\n# TYPE x gauge\nx{user=\"bad\uFFFD-é-日本-\uFFFD\"} 1\n",
			labels: map[string]string{"user": "bad\uFFFD-é-日本-\uFFFD"},
			value:  1,
		},
		{
			name: "a family without samples is left out",
			write: func(w *Writer) {
				w.Family("empty", "Nothing.", Counter)
				w.Family("x", "h", Gauge)
				w.Sample("x", 2)
				w.Family("empty_too", "Nothing.", Gauge)
			},
			want:  "# HELP x h\n# TYPE x gauge\nx 2\n",
			value: 2,
		},
		{
			name: "floats",
			write: func(w *Writer) {
				w.Family("f", "h", Gauge)
				w.SampleFloat("f", 0.25, "k", "a")
				w.SampleFloat("f", math.Inf(1), "k", "b")
				w.SampleFloat("f", math.Inf(-1), "k", "c")
				w.SampleFloat("f", math.NaN(), "k", "d")
			},
			want:   "# HELP f h\n# TYPE f gauge\nf{k=\"a\"} 0.25\nf{k=\"b\"} +Inf\nf{k=\"c\"} -Inf\nf{k=\"d\"} NaN\n",
			labels: map[string]string{"k": "a"},
			value:  0.25,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out)
			tt.write(w)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("wrote\n%q\nwant\n%q", out.String(), tt.want)
			}
			fams := parse(t, out.Bytes())
			if len(fams) != 1 {
				t.Fatalf("%d families parsed, want 1", len(fams))
			}
			for _, f := range fams {
				m := f.GetMetric()[0]
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				if len(got) != len(tt.labels) {
					t.Fatalf("labels %v, want %v", got, tt.labels)
				}
				for k, v := range tt.labels {
					if got[k] != v {
						t.Fatalf("label %s = %q, want %q", k, got[k], v)
					}
				}
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				if v != tt.value {
					t.Fatalf("value %v, want %v", v, tt.value)
				}
			}
		})
	}
}

func TestWriterOddLabels(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.Family("x", "h", Gauge)
	w.Sample("x", 1, "lonely")
	w.Sample("x", 2)
	if err := w.Flush(); !errors.Is(err, ErrLabels) {
		t.Fatalf("Flush = %v, want ErrLabels", err)
	}
	if strings.Contains(out.String(), "lonely") {
		t.Fatalf("the bad sample was written:\n%s", out.String())
	}
}

type failWriter struct{}

var errWrite = errors.New("write failed")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriterWriteError(t *testing.T) {
	w := NewWriter(failWriter{})
	w.Family("x", "h", Gauge)
	for i := range 10000 { // past the buffer, so a write happens before Flush
		w.Sample("x", uint64(i), "i", "a long enough label value to fill the buffer sooner")
	}
	if err := w.Flush(); !errors.Is(err, errWrite) {
		t.Fatalf("Flush = %v, want the write's error", err)
	}
}

// FuzzLabelValue: whatever a label value holds (a client's identity is the
// client's bytes), Prometheus's parser reads the exposition back, and the
// value it reads is the one written, with each run of invalid bytes as
// U+FFFD.
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"", "alice", "a\\b", "q\"q", "line\nfeed", "\xff", "é", "\\n", "}", "a=\"b\",c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var out bytes.Buffer
		w := NewWriter(&out)
		w.Family("m", "help "+v, Counter)
		w.Sample("m", 7, "v", v)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		fams := parse(t, out.Bytes())
		got := fams["m"].GetMetric()[0].GetLabel()[0].GetValue()
		if want := strings.ToValidUTF8(v, "\uFFFD"); got != want {
			t.Fatalf("label value %q read back as %q, want %q", v, got, want)
		}
	})
}
