package message

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

// Tests against real strongSwan 5.9.8 messages captured by
// testdata/strongswan/capture.sh (see README.md there). The expectations
// come from the swanctl proposals configured for each run and from charon's
// own log of the exchanges, not from this package's output.

func tr(t transform.Type, id transform.ID, keyLen uint16) Transform {
	return Transform{Type: t, ID: id, KeyLength: keyLen}
}

var (
	encrGCM256 = tr(transform.TypeENCR, transform.EncrAESGCM16, 256)
	encrGCM128 = tr(transform.TypeENCR, transform.EncrAESGCM16, 128)
	encrCBC256 = tr(transform.TypeENCR, transform.EncrAESCBC, 256)
	encrCBC128 = tr(transform.TypeENCR, transform.EncrAESCBC, 128)
	esnNo      = tr(transform.TypeESN, transform.ESNNo, 0)
)

func integ(id transform.ID) Transform { return tr(transform.TypeINTEG, id, 0) }
func prf(id transform.ID) Transform   { return tr(transform.TypePRF, id, 0) }
func dh(id transform.ID) Transform    { return tr(transform.TypeDH, id, 0) }

type swanCase struct {
	run       string
	proposals [][]Transform // the IKE proposals of the IKE_SA_INIT request
	chosen    int           // the proposal number the responder accepted
	prfLen    int           // output length of the negotiated PRF (AUTH data length)
	cp        bool          // the initiator requested a virtual IP
	// log lines of charon (initiator) for the protected messages, in capture
	// order, translated to this package's names; fragments are listed by
	// the reassembled message.
	log []string
}

var swanCases = []swanCase{
	{
		run:       "gcm",
		proposals: [][]Transform{{encrGCM256, prf(transform.PRFHMACSHA2256), dh(transform.DHECP256)}},
		chosen:    1, prfLen: 32,
	},
	{
		run:       "cbc",
		proposals: [][]Transform{{encrCBC256, integ(transform.IntegHMACSHA2256128), prf(transform.PRFHMACSHA2256), dh(transform.DHMODP2048)}},
		chosen:    1, prfLen: 32,
	},
	{
		run:       "sha1",
		proposals: [][]Transform{{encrCBC128, integ(transform.IntegHMACSHA196), prf(transform.PRFHMACSHA1), dh(transform.DHMODP1024)}},
		chosen:    1, prfLen: 20,
	},
	{
		run: "frag",
		proposals: [][]Transform{
			{encrGCM128, prf(transform.PRFHMACSHA2384), dh(transform.DHCurve25519)},
			{encrCBC256, integ(transform.IntegHMACSHA2384192), prf(transform.PRFHMACSHA2384), dh(transform.DHECP384)},
		},
		chosen: 1, prfLen: 48,
	},
	{
		run: "cp",
		proposals: [][]Transform{
			{encrCBC256, integ(transform.IntegHMACSHA2256128), prf(transform.PRFHMACSHA2256), dh(transform.DHECP384)},
			{encrGCM128, prf(transform.PRFHMACSHA2256), dh(transform.DHMODP3072)},
		},
		chosen: 1, prfLen: 32, cp: true,
	},
}

const (
	swanAuthReq  = "IKE_AUTH request 1 [ IDi N(INITIAL_CONTACT) IDr AUTH SA TSi TSr N(MOBIKE_SUPPORTED) N(NO_ADDITIONAL_ADDRESSES) N(MULTIPLE_AUTH_SUPPORTED) N(EAP_ONLY_AUTHENTICATION) N(IKEV2_MESSAGE_ID_SYNC_SUPPORTED) ]"
	swanAuthResp = "IKE_AUTH response 1 [ IDr AUTH SA TSi TSr N(MOBIKE_SUPPORTED) N(NO_ADDITIONAL_ADDRESSES) ]"
	swanCPReq    = "IKE_AUTH request 1 [ IDi N(INITIAL_CONTACT) IDr AUTH CP(CFG_REQUEST) SA TSi TSr N(MOBIKE_SUPPORTED) N(NO_ADDITIONAL_ADDRESSES) N(MULTIPLE_AUTH_SUPPORTED) N(EAP_ONLY_AUTHENTICATION) N(IKEV2_MESSAGE_ID_SYNC_SUPPORTED) ]"
	swanCPResp   = "IKE_AUTH response 1 [ IDr AUTH CP(CFG_REPLY) SA TSi TSr N(MOBIKE_SUPPORTED) N(NO_ADDITIONAL_ADDRESSES) ]"
	swanDelReq   = "INFORMATIONAL request 2 [ D(IKE) ]"
	swanDelResp  = "INFORMATIONAL response 2 [ ]"
)

func natHash(spii, spir uint64, addr string, port uint16) []byte {
	h := sha1.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spii)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], spir)
	h.Write(b[:])
	h.Write(netip.MustParseAddr(addr).AsSlice())
	binary.BigEndian.PutUint16(b[:2], port)
	h.Write(b[:2])
	return h.Sum(nil)
}

func notifyTypes(m *Message) []NotifyType {
	var ts []NotifyType
	for _, n := range m.Notifies() {
		ts = append(ts, n.Type)
	}
	return ts
}

func TestStrongSwanIKESAInit(t *testing.T) {
	for _, tc := range swanCases {
		t.Run(tc.run, func(t *testing.T) {
			r := loadSwanRun(t, tc.run)
			reqB, respB := r.msgs[0].data, r.msgs[1].data
			req, err := Decode(reqB, nil)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			resp, err := Decode(respB, nil)
			if err != nil {
				t.Fatalf("response: %v", err)
			}

			// Headers.
			if req.SPIi == 0 || req.SPIr != 0 || req.Exchange != IKESAInit || req.Flags != FlagInitiator ||
				req.MessageID != 0 || req.Version != Version2 || int(req.Length) != len(reqB) || req.Protected {
				t.Errorf("request header %+v", req.Header)
			}
			if resp.SPIi != req.SPIi || resp.SPIr == 0 || resp.Exchange != IKESAInit || resp.Flags != FlagResponse ||
				resp.MessageID != 0 || !resp.IsResponse() || resp.IsInitiator() {
				t.Errorf("response header %+v", resp.Header)
			}

			// Payload order, from charon's log.
			if got, want := req.String(), "IKE_SA_INIT request 0 [ SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) N(REDIRECT_SUPPORTED) ]"; got != want {
				t.Errorf("request:\n got %s\nwant %s", got, want)
			}
			if got, want := resp.String(), "IKE_SA_INIT response 0 [ SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) N(CHILDLESS_IKEV2_SUPPORTED) N(MULTIPLE_AUTH_SUPPORTED) ]"; got != want {
				t.Errorf("response:\n got %s\nwant %s", got, want)
			}

			// Proposals.
			sa := req.SA()
			if sa == nil || len(sa.Proposals) != len(tc.proposals) {
				t.Fatalf("request SA %+v, want %d proposals", sa, len(tc.proposals))
			}
			for i, p := range sa.Proposals {
				if p.Number != uint8(i+1) || p.Protocol != ProtoIKE || p.SPI != nil {
					t.Errorf("proposal %d: number %d protocol %s SPI %x", i+1, p.Number, p.Protocol, p.SPI)
				}
				if !reflect.DeepEqual(p.Transforms, tc.proposals[i]) {
					t.Errorf("proposal %d transforms\n got %+v\nwant %+v", i+1, p.Transforms, tc.proposals[i])
				}
			}
			rsa := resp.SA()
			if rsa == nil || len(rsa.Proposals) != 1 || rsa.Proposals[0].Number != uint8(tc.chosen) ||
				!reflect.DeepEqual(rsa.Proposals[0].Transforms, tc.proposals[tc.chosen-1]) {
				t.Errorf("response SA %+v, want proposal %d", rsa, tc.chosen)
			}

			// KE: the group of the first proposal, with the group's length.
			var group transform.ID
			for _, x := range tc.proposals[0] {
				if x.Type == transform.TypeDH {
					group = x.ID
				}
			}
			for _, m := range []*Message{req, resp} {
				ke := m.KE()
				if ke == nil || ke.Group != group || len(ke.Data) != keDataLen(group) {
					t.Errorf("%s: KE %+v, want group %d", m.Exchange, ke, group)
				}
				if n := m.Nonce(); n == nil || len(n.Data) != 32 {
					t.Errorf("nonce %+v", n)
				}
				sh := m.Notify(NotifySignatureHashAlgorithms)
				// SHA2_256, SHA2_384, SHA2_512, Identity (RFC 7427 hash IDs 2..5).
				if sh == nil || !bytes.Equal(sh.Data, []byte{0, 2, 0, 3, 0, 4, 0, 5}) || sh.SPI != nil || sh.Protocol != 0 {
					t.Errorf("SIGNATURE_HASH_ALGORITHMS %+v", sh)
				}
				if n := m.Notify(NotifyFragmentationSupported); n == nil || n.Data != nil {
					t.Errorf("IKEV2_FRAGMENTATION_SUPPORTED %+v", n)
				}
			}

			// NAT detection (RFC 7296 §2.23): the destination hashes are
			// genuine; with encap=yes charon fakes the source hash to
			// force UDP encapsulation, so it must not match.
			if d := req.Notify(NotifyNATDetectionDestinationIP); d == nil || !bytes.Equal(d.Data, natHash(req.SPIi, 0, "192.0.2.2", 500)) {
				t.Errorf("request NAT_DETECTION_DESTINATION_IP %+v does not hash 192.0.2.2:500", d)
			}
			if s := req.Notify(NotifyNATDetectionSourceIP); s == nil || len(s.Data) != 20 || bytes.Equal(s.Data, natHash(req.SPIi, 0, "192.0.2.1", 500)) {
				t.Errorf("request NAT_DETECTION_SOURCE_IP %+v (expected a faked hash)", s)
			}
			if d := resp.Notify(NotifyNATDetectionDestinationIP); d == nil || !bytes.Equal(d.Data, natHash(resp.SPIi, resp.SPIr, "192.0.2.1", 500)) {
				t.Errorf("response NAT_DETECTION_DESTINATION_IP %+v does not hash 192.0.2.1:500", d)
			}

			// Byte-exact re-encoding.
			for _, c := range []struct {
				m    *Message
				orig []byte
			}{{req, reqB}, {resp, respB}} {
				enc, err := c.m.Encode()
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if !bytes.Equal(enc, c.orig) {
					t.Errorf("%s re-encoded differs:\n got %x\nwant %x", c.m, enc, c.orig)
				}
			}
		})
	}
}

// decryptSwan opens a captured SK or SKF datagram with c and returns the
// inner content without padding, and the IV.
func decryptSwan(t testing.TB, c *Crypto, b []byte) (content, iv []byte) {
	t.Helper()
	hl := HeaderLen + genericHeaderLen
	if PayloadType(b[16]) == PayloadSKF {
		hl = HeaderLen + skfHeaderLen
	}
	iv = b[hl : hl+c.Cipher.IVLen()]
	pt, err := c.Cipher.Open(nil, iv, b[hl+len(iv):], b[:hl], nil)
	if err != nil {
		t.Fatalf("test cipher cannot open the capture: %v", err)
	}
	return pt[:len(pt)-1-int(pt[len(pt)-1])], iv
}

func TestStrongSwanProtected(t *testing.T) {
	for _, tc := range swanCases {
		t.Run(tc.run, func(t *testing.T) {
			r := loadSwanRun(t, tc.run)
			initResp, err := Decode(r.msgs[1].data, nil)
			if err != nil {
				t.Fatal(err)
			}
			chosen := &initResp.SA().Proposals[0]
			want := []string{swanAuthReq, swanAuthResp, swanDelReq, swanDelResp}
			if tc.cp {
				want[0], want[1] = swanCPReq, swanCPResp
			}
			reasm := map[bool]*Reassembler{true: NewReassembler(0, 0), false: NewReassembler(0, 0)}
			var got []*Message
			for _, sm := range r.msgs[2:] {
				c := r.cryptoFor(t, chosen, sm.i2r)
				var m *Message
				if _, _, isFrag := PeekFragment(sm.data); isFrag {
					var done bool
					m, done, err = reasm[sm.i2r].Add(sm.data, c)
					if err != nil {
						t.Fatalf("%s: %v", sm.name, err)
					}
					if !done {
						continue
					}
				} else if m, err = Decode(sm.data, c); err != nil {
					t.Fatalf("%s: %v", sm.name, err)
				}
				if !m.Protected || m.SPIi != initResp.SPIi || m.SPIr != initResp.SPIr || m.IsInitiator() != sm.i2r {
					t.Errorf("%s: header %+v protected %v", sm.name, m.Header, m.Protected)
				}
				got = append(got, m)
			}
			if len(got) != len(want) {
				t.Fatalf("decoded %d messages, want %d", len(got), len(want))
			}
			for i, m := range got {
				if m.String() != want[i] {
					t.Errorf("message %d:\n got %s\nwant %s", i, m, want[i])
				}
			}
			if tc.run == "frag" && (got[0].Fragments != 5 || got[1].Fragments != 3) {
				t.Errorf("fragments %d, %d; want 5 and 3 (charon log: EF(1/5)..., EF(1/3)...)", got[0].Fragments, got[1].Fragments)
			}

			authReq, authResp := got[0], got[1]
			if id := authReq.IDi(); id == nil || id.IDType != IDFQDN || string(id.Data) != "gw-a.example.net" {
				t.Errorf("IDi %+v", id)
			}
			for _, m := range []*Message{authReq, authResp} {
				if id := m.IDr(); id == nil || id.IDType != IDFQDN || string(id.Data) != "gw-b.example.net" {
					t.Errorf("IDr %+v", id)
				}
				if a := m.Auth(); a == nil || a.Method != AuthSharedKeyMIC || len(a.Data) != tc.prfLen {
					t.Errorf("AUTH %+v, want PSK with %d bytes", a, tc.prfLen)
				}
				tsi, tsr := m.TSi(), m.TSr()
				wantTSi := TrafficSelector{Type: TSIPv4AddrRange, EndPort: 65535,
					StartAddr: netip.MustParseAddr("10.1.0.0"), EndAddr: netip.MustParseAddr("10.1.255.255")}
				if tc.cp {
					if m == authReq { // local_ts = dynamic with vips = 0.0.0.0
						wantTSi.StartAddr, wantTSi.EndAddr = netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255")
					} else { // narrowed to the assigned virtual IP
						wantTSi.StartAddr, wantTSi.EndAddr = netip.MustParseAddr("10.3.0.1"), netip.MustParseAddr("10.3.0.1")
					}
				}
				wantTSr := TrafficSelector{Type: TSIPv4AddrRange, EndPort: 65535,
					StartAddr: netip.MustParseAddr("10.2.0.0"), EndAddr: netip.MustParseAddr("10.2.255.255")}
				if tsi == nil || !reflect.DeepEqual(tsi.Selectors, []TrafficSelector{wantTSi}) || !tsi.Initiator {
					t.Errorf("%s TSi %+v", m.Exchange, tsi)
				}
				if tsr == nil || !reflect.DeepEqual(tsr.Selectors, []TrafficSelector{wantTSr}) || tsr.Initiator {
					t.Errorf("%s TSr %+v", m.Exchange, tsr)
				}
			}
			// ESP proposals: esp_proposals = aes256gcm16,aes128-sha256 (ESN off).
			espReq := authReq.SA()
			wantESP := [][]Transform{{encrGCM256, esnNo}, {encrCBC128, integ(transform.IntegHMACSHA2256128), esnNo}}
			if espReq == nil || len(espReq.Proposals) != 2 {
				t.Fatalf("IKE_AUTH SA %+v", espReq)
			}
			for i, p := range espReq.Proposals {
				if p.Protocol != ProtoESP || len(p.SPI) != 4 || !bytes.Equal(p.SPI, espReq.Proposals[0].SPI) ||
					!reflect.DeepEqual(p.Transforms, wantESP[i]) {
					t.Errorf("ESP proposal %d: %+v", i+1, p)
				}
			}
			if p := authResp.SA(); p == nil || len(p.Proposals) != 1 || p.Proposals[0].Number != 1 ||
				len(p.Proposals[0].SPI) != 4 || !reflect.DeepEqual(p.Proposals[0].Transforms, wantESP[0]) {
				t.Errorf("IKE_AUTH response SA %+v", p)
			}
			if tc.cp {
				wantReq := &CP{CPType: CPRequest, Attributes: []CPAttribute{{Type: CPInternalIP4Address}}}
				if cp := authReq.CP(); !reflect.DeepEqual(cp, wantReq) {
					t.Errorf("CP request %+v", cp)
				}
				wantReply := &CP{CPType: CPReply, Attributes: []CPAttribute{
					{Type: CPInternalIP4Address, Value: []byte{10, 3, 0, 1}},
					{Type: CPInternalIP4DNS, Value: []byte{10, 3, 0, 53}},
				}}
				if cp := authResp.CP(); !reflect.DeepEqual(cp, wantReply) {
					t.Errorf("CP reply %+v", cp)
				}
			}
			if d := got[2].Deletes(); len(d) != 1 || d[0].Protocol != ProtoIKE || d[0].SPIs != nil {
				t.Errorf("delete %+v", d)
			}

			// Byte-exact inner encoding: our encoding of the decoded inner
			// payloads equals what charon encrypted (padding aside).
			gi := 0
			var joined []byte
			for _, sm := range r.msgs[2:] {
				c := r.cryptoFor(t, chosen, sm.i2r)
				content, _ := decryptSwan(t, c, sm.data)
				joined = append(joined, content...)
				if n, total, isFrag := PeekFragment(sm.data); isFrag && n != total {
					continue
				}
				enc := appendPayloads(nil, got[gi].Payloads)
				if !bytes.Equal(enc, joined) {
					t.Errorf("%s: inner payloads re-encode differently:\n got %x\nwant %x", sm.name, enc, joined)
				}
				gi++
				joined = nil
			}
		})
	}
}

// replayIV is an IV source handing out the IVs charon used, in order.
type replayIV struct{ ivs [][]byte }

func (r *replayIV) Read(p []byte) (int, error) {
	if len(r.ivs) == 0 || len(r.ivs[0]) != len(p) {
		return 0, bytes.ErrTooLarge
	}
	copy(p, r.ivs[0])
	r.ivs = r.ivs[1:]
	return len(p), nil
}

// With AES-GCM charon pads with nothing (Pad Length 0), as we do, so
// re-encrypting the decoded messages with charon's IVs must reproduce its
// datagrams exactly — including its IKE fragments.
func TestStrongSwanReencryptAEAD(t *testing.T) {
	for _, run := range []string{"gcm", "frag"} {
		t.Run(run, func(t *testing.T) {
			r := loadSwanRun(t, run)
			initResp, err := Decode(r.msgs[1].data, nil)
			if err != nil {
				t.Fatal(err)
			}
			chosen := &initResp.SA().Proposals[0]
			reasm := NewReassembler(0, 0)
			var frags [][]byte
			for _, sm := range r.msgs[2:] {
				c := r.cryptoFor(t, chosen, sm.i2r)
				n, total, isFrag := PeekFragment(sm.data)
				if isFrag {
					frags = append(frags, sm.data)
					m, done, err := reasm.Add(sm.data, c)
					if err != nil {
						t.Fatal(err)
					}
					if !done {
						continue
					}
					if int(n) != len(frags) || int(total) != len(frags) {
						t.Fatalf("fragments out of order in the capture")
					}
					ivs := &replayIV{}
					for _, f := range frags {
						_, iv := decryptSwan(t, c, f)
						ivs.ivs = append(ivs.ivs, iv)
					}
					out, err := m.EncodeFragments(&Crypto{Cipher: c.Cipher, Rand: ivs}, len(frags[0]))
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(out, frags) {
						t.Errorf("%s: re-fragmented datagrams differ:\n got %x\nwant %x", sm.name, out, frags)
					}
					frags = nil
					continue
				}
				m, err := Decode(sm.data, c)
				if err != nil {
					t.Fatal(err)
				}
				_, iv := decryptSwan(t, c, sm.data)
				out, err := m.EncodeProtected(&Crypto{Cipher: c.Cipher, Rand: &replayIV{ivs: [][]byte{iv}}})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, sm.data) {
					t.Errorf("%s: re-encrypted differs:\n got %x\nwant %x", sm.name, out, sm.data)
				}
			}
		})
	}
}
