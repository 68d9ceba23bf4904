package swantest

import "testing"

func TestParseListSAs(t *testing.T) {
	out := `list-sa event {vpngw {uniqueid=1 version=2 state=ESTABLISHED local-host=192.0.2.2 initiator-spi=0a0b0c0d0e0f1011 responder-spi=1112131415161718 encr-alg=AES_GCM_16 encr-keysize=256 prf-alg=PRF_HMAC_SHA2_256 dh-group=ECP_256 child-sas {vpngw-net-2 {name=vpngw-net uniqueid=2 state=INSTALLED mode=TUNNEL protocol=ESP encap=yes spi-in=c1a4d8f0 spi-out=0badcafe encr-alg=AES_GCM_16 encr-keysize=256 bytes-in=84 local-ts [10.2.0.0/16] remote-ts [10.1.0.0/16 10.3.0.0/16]}}}}
list-sas reply {}
`
	sas := parseListSAs(out)
	if len(sas) != 1 || sas[0].Name != "vpngw" || sas[0].State != "ESTABLISHED" || sas[0].Encr != "AES_GCM_16256" || sas[0].DH != "ECP_256" {
		t.Fatalf("%+v", sas)
	}
	c := sas[0].Children
	if len(c) != 1 || c[0].SPIIn != "c1a4d8f0" || c[0].SPIOut != "0badcafe" || c[0].State != "INSTALLED" ||
		len(c[0].RemoteTS) != 2 || c[0].RemoteTS[1] != "10.3.0.0/16" || c[0].LocalTS[0] != "10.2.0.0/16" || c[0].BytesIn != "84" {
		t.Fatalf("%+v", c)
	}
}
