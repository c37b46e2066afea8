package netplug

import (
	"fmt"
	"net/netip"
	"strings"
)

// ruleset is everything berth wants in its nftables table, derived from
// state alone. The dataplane replaces the whole table with it in one atomic
// transaction (add table, delete table, add table + chains + rules), so the
// kernel converges to state after any crash, and an empty ruleset removes
// the table altogether.
type ruleset struct {
	Table    string
	Networks []ruleNetwork
	Ports    []rulePort
}

type ruleNetwork struct {
	Name     string
	Bridge   string
	Subnet   netip.Prefix
	Internal bool
}

type rulePort struct {
	Sandbox    string
	HostIP     netip.Addr // zero = every local address
	HostPort   uint16
	Protocol   string // tcp, udp
	Target     netip.Addr
	TargetPort uint16
}

func (r ruleset) empty() bool { return len(r.Networks) == 0 && len(r.Ports) == 0 }

// String renders the ruleset in nft syntax. The dataplane builds exactly
// these rules; tests compare this text.
func (r ruleset) String() string {
	if r.empty() {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", r.Table)
	b.WriteString("  chain prerouting { type nat hook prerouting priority dstnat; fib daddr type local jump ports }\n")
	b.WriteString("  chain output { type nat hook output priority dstnat; fib daddr type local jump ports }\n")
	b.WriteString("  chain ports {\n")
	for _, p := range r.Ports {
		b.WriteString("    meta l4proto " + p.Protocol)
		if p.HostIP.IsValid() {
			fmt.Fprintf(&b, " ip daddr %s", p.HostIP)
		}
		fmt.Fprintf(&b, " th dport %d dnat to %s:%d comment \"container=%s\"\n", p.HostPort, p.Target, p.TargetPort, p.Sandbox)
	}
	b.WriteString("  }\n")
	b.WriteString("  chain postrouting { type nat hook postrouting priority srcnat;\n")
	for _, n := range r.Networks {
		if n.Internal {
			continue
		}
		fmt.Fprintf(&b, "    ip saddr %s oifname != %s masquerade comment \"network=%s\"\n", n.Subnet, n.Bridge, n.Name)
		fmt.Fprintf(&b, "    ip saddr 127.0.0.0/8 oifname %s masquerade comment \"network=%s\"\n", n.Bridge, n.Name)
		fmt.Fprintf(&b, "    ip saddr %s oifname %s ct status dnat masquerade comment \"network=%s\"\n", n.Subnet, n.Bridge, n.Name)
	}
	b.WriteString("  }\n")
	b.WriteString("  chain forward { type filter hook forward priority filter; policy accept;\n")
	for _, n := range r.Networks {
		if n.Internal {
			fmt.Fprintf(&b, "    iifname %s oifname != %s drop comment \"network=%s\"\n", n.Bridge, n.Bridge, n.Name)
			fmt.Fprintf(&b, "    oifname %s iifname != %s drop comment \"network=%s\"\n", n.Bridge, n.Bridge, n.Name)
		}
	}
	b.WriteString("    ct status dnat accept\n")
	for _, n := range r.Networks {
		if !n.Internal {
			fmt.Fprintf(&b, "    iifname %s oifname != %s oifname %s* drop comment \"network=%s\"\n", n.Bridge, n.Bridge, BridgePrefix, n.Name)
		}
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// buildRuleset derives the ruleset from state. Published ports go to the
// sandbox's default-route endpoint; sandboxes without one publish nothing.
func buildRuleset(table string, nets []*networkState, sbs []*sandboxState) ruleset {
	rs := ruleset{Table: table}
	for _, n := range nets {
		rs.Networks = append(rs.Networks, ruleNetwork{Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet, Internal: n.Internal})
	}
	for _, s := range sbs {
		ep := s.defaultEndpoint()
		if ep == nil {
			continue
		}
		for _, p := range s.Ports {
			var hip netip.Addr
			if a, err := netip.ParseAddr(p.HostIP); err == nil && !a.IsUnspecified() {
				hip = a
			}
			rs.Ports = append(rs.Ports, rulePort{Sandbox: s.ID, HostIP: hip, HostPort: p.HostPort, Protocol: protocol(p.Protocol), Target: ep.IPv4, TargetPort: p.ContainerPort})
		}
	}
	return rs
}

func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}
