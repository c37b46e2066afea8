package main

import (
	"fmt"
	"net"
	"testing"
)

// TestHostPortTaken: a listener on 127.0.0.1 or on every address makes
// the port taken for a wildcard publish; a free port is not taken.
func TestHostPortTaken(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		l, err := net.Listen("tcp4", listen)
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		for _, addr := range []string{fmt.Sprintf("0.0.0.0:%d", port), fmt.Sprintf("127.0.0.1:%d", port)} {
			if !hostPortTaken("tcp", addr) {
				t.Errorf("listener on %s: %s not reported taken", l.Addr(), addr)
			}
		}
		l.Close()
		if hostPortTaken("tcp", fmt.Sprintf("0.0.0.0:%d", port)) {
			t.Errorf("port %d reported taken after its listener closed", port)
		}
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !hostPortTaken("udp", fmt.Sprintf("0.0.0.0:%d", c.LocalAddr().(*net.UDPAddr).Port)) {
		t.Errorf("udp socket on %s not reported taken", c.LocalAddr())
	}
}
