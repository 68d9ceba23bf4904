package esp

import (
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open on SAs of every cipher family, with
// and without ESN: it must never panic, and whatever it accepts must lie
// inside the input buffer. Seeds: testdata/fuzz/FuzzOpen plus valid packets.
func FuzzOpen(f *testing.F) {
	fams := families()
	for _, fam := range fams {
		for _, esn := range []bool{false, true} {
			out, _ := newPair(f, fam, esn)
			buf, off := layout(testPacket(41, false, 3))
			s, err := out.Seal(buf, off)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(append([]byte(nil), s...))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x02, 0x03, 0x04, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fam := range fams {
			for _, esn := range []bool{false, true} {
				_, in := newPair(t, fam, esn)
				buf := make([]byte, ScratchLen+len(data))
				copy(buf[ScratchLen:], data)
				inner, _, _, err := in.Open(buf, ScratchLen)
				if err == nil && len(inner) > len(data) {
					t.Fatalf("inner longer than packet")
				}
				_, _ = ParseSPI(data)

				// Also treat data as an ESP plaintext (payload ‖ padding ‖
				// trailer) sealed with the right key, so the trailer and
				// next-header checks see arbitrary authenticated input.
				out, in2 := newPair(t, fam, esn)
				pt := data[:len(data)-len(data)%out.align]
				b, off := layout(pt)
				seq, _ := out.Reserve(1)
				iv := b[off-out.ivLen : off]
				hdr := off - out.ivLen - HeaderLen
				var aad, tail []byte
				switch {
				case !esn:
					aad = b[hdr : hdr+8]
				case out.aead:
					aad = b[hdr-4 : hdr+8]
				default:
					aad, tail = b[hdr:hdr+8], []byte{0, 0, 0, 0}
				}
				b[hdr-4], b[hdr-3], b[hdr-2], b[hdr-1] = 1, 2, 3, 4 // SPI (ESN AAD)
				b[hdr], b[hdr+1], b[hdr+2], b[hdr+3] = 1, 2, 3, 4
				b[hdr+4], b[hdr+5], b[hdr+6], b[hdr+7] = 0, 0, 0, byte(seq)
				if esn && out.aead {
					aad = []byte{1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, byte(seq)}
				}
				sealed := out.cipher.Seal(b[off:off], iv, b[off:off+len(pt)], aad, tail)
				pkt := append(make([]byte, ScratchLen), b[hdr:off+len(sealed)]...)
				inner, nh, _, err := in2.Open(pkt, ScratchLen)
				if err == nil {
					if len(inner) > len(pt) || (nh != NextHeaderIPv4 && nh != NextHeaderIPv6) {
						t.Fatalf("accepted nh %d inner %d of %d", nh, len(inner), len(pt))
					}
				}
			}
		}
	})
}
