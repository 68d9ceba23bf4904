// Package promtext writes Prometheus's text exposition format (version
// 0.0.4), the format every Prometheus-compatible scraper accepts, straight
// from the caller's values into one buffer.
//
// It exists for the agent's /metrics at scale: a gateway with 10,000
// point-to-site clients exposes two samples per client, and building a
// metric object per sample (client_golang's registry: label validation,
// consistency checks, sorting, then encoding) cost ~100 ms of CPU and
// ~2.6 MB of garbage per scrape. Here a sample is a few appends to a
// reused buffer. The caller owns what a registry would check: each family
// is written once, its samples together, with the label names it
// declared, and no two samples of a family share their label values.
//
//	w := promtext.NewWriter(out)
//	w.Family("vpngw_p2s_clients", "Point-to-site clients connected.", promtext.Gauge)
//	w.Sample("vpngw_p2s_clients", 3)
//	w.Family("vpngw_sa_packets_total", "Packets an ESP SA protected.", promtext.Counter)
//	w.Sample("vpngw_sa_packets_total", 42, "connection", "hq", "direction", "out")
//	err := w.Flush()
package promtext

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ContentType is the media type of what Writer writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a metric family's TYPE.
type Type string

// The family types the agent uses.
const (
	Counter Type = "counter"
	Gauge   Type = "gauge"
)

// ErrLabels is returned (by Flush) when a sample had an odd number of label
// strings: names and values come in pairs.
var ErrLabels = errors.New("promtext: label names and values must come in pairs")

// Writer writes one exposition. It buffers; Flush writes out what is left
// and returns the first error. A Writer is not safe for concurrent use.
type Writer struct {
	w   *bufio.Writer
	buf []byte // one line at a time, reused
	err error
	// head is the current family's HELP and TYPE lines until its first
	// sample writes them: a family without samples is left out, as
	// Prometheus's own registry leaves it out.
	head []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 256)}
}

// Family starts a metric family: its HELP and TYPE lines, written with
// its first sample (none: the family is left out). Its samples follow,
// before the next family.
func (w *Writer) Family(name, help string, typ Type) {
	b := append(w.head[:0], "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	w.head = append(b, '\n')
}

// Sample writes one sample of an integer value: name, then labels as
// name, value pairs.
func (w *Writer) Sample(name string, v uint64, labels ...string) {
	b, ok := w.start(name, labels)
	if !ok {
		return
	}
	b = strconv.AppendUint(b, v, 10)
	w.buf = append(b, '\n')
	w.line(w.buf)
}

// SampleFloat writes one sample of a float value (NaN and ±Inf as the
// format spells them).
func (w *Writer) SampleFloat(name string, v float64, labels ...string) {
	b, ok := w.start(name, labels)
	if !ok {
		return
	}
	switch {
	case math.IsNaN(v):
		b = append(b, "NaN"...)
	case math.IsInf(v, 1):
		b = append(b, "+Inf"...)
	case math.IsInf(v, -1):
		b = append(b, "-Inf"...)
	default:
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	w.buf = append(b, '\n')
	w.line(w.buf)
}

// start appends a sample's name and labels and the space before its value.
func (w *Writer) start(name string, labels []string) ([]byte, bool) {
	if len(labels)%2 != 0 {
		if w.err == nil {
			w.err = fmt.Errorf("%w: %s has %d", ErrLabels, name, len(labels))
		}
		return nil, false
	}
	if len(w.head) > 0 {
		w.line(w.head)
		w.head = w.head[:0]
	}
	b := append(w.buf[:0], name...)
	if len(labels) > 0 {
		b = append(b, '{')
		for i := 0; i < len(labels); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, labels[i]...)
			b = append(b, '=', '"')
			b = appendEscaped(b, labels[i+1], true)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, ' '), true
}

func (w *Writer) line(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

// Flush writes what is buffered and returns the first error of the
// exposition.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// appendEscaped appends s with the format's escapes: backslash and line
// feed always, the double quote in label values. The format is UTF-8 and a
// scraper refuses the whole exposition over one invalid byte, so each run
// of invalid bytes (a client's identity is the client's bytes) becomes
// U+FFFD.
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}
