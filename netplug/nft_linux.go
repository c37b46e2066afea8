package netplug

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// syncRules replaces berth's table with rs in one transaction: "add table"
// (a no-op when it exists), "delete table", then the table, its chains and
// rules. Other tables are never read or touched.
func (linuxDataplane) syncRules(rs ruleset) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: rs.Table}
	if rs.empty() {
		if _, err := c.ListTableOfFamily(rs.Table, nftables.TableFamilyIPv4); err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
				return nil
			}
			return fmt.Errorf("look up table: %w", err)
		}
		c.DelTable(t)
		return c.Flush()
	}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)

	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	ports := c.AddChain(&nftables.Chain{Name: "ports", Table: t})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})

	add := func(ch *nftables.Chain, comment string, e ...expr.Any) {
		r := &nftables.Rule{Table: t, Chain: ch, Exprs: e}
		if comment != "" {
			r.UserData = userdata.AppendString(nil, userdata.TypeComment, comment)
		}
		c.AddRule(r)
	}
	fibLocal := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: ports.Name},
	}
	add(pre, "", fibLocal...)
	add(out, "", fibLocal...)

	for _, p := range rs.Ports {
		proto := byte(unix.IPPROTO_TCP)
		if p.Protocol == "udp" {
			proto = unix.IPPROTO_UDP
		}
		e := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		}
		if p.HostIP.IsValid() {
			e = append(e, ipField(16), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.HostIP.AsSlice()})
		}
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.HostPort)},
			&expr.Immediate{Register: 1, Data: p.Target.AsSlice()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.TargetPort)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		)
		add(ports, "container="+p.Sandbox, e...)
	}

	// Internal networks first: not even published ports of other networks
	// are reachable from them. Then published ports pass; then isolation.
	for _, n := range rs.Networks {
		if n.Internal {
			comment := "network=" + n.Name
			e := append(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, n.Bridge), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge)...)
			add(fwd, comment, append(e, &expr.Verdict{Kind: expr.VerdictDrop})...)
			e = append(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, n.Bridge)...)
			add(fwd, comment, append(e, &expr.Verdict{Kind: expr.VerdictDrop})...)
		}
	}
	add(fwd, "", append(ctDNAT(), &expr.Verdict{Kind: expr.VerdictAccept})...)
	for _, n := range rs.Networks {
		if n.Internal {
			continue
		}
		comment := "network=" + n.Name
		var e []expr.Any
		e = append(e, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, n.Bridge)...)
		e = append(e, ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge)...)
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(BridgePrefix)}) // oifname bth-*
		add(fwd, comment, append(e, &expr.Verdict{Kind: expr.VerdictDrop})...)

		// Outbound NAT.
		e = append(saddrIn(n.Subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge)...)
		add(post, comment, append(e, &expr.Masq{})...)
		// 127.0.0.1 DNATed into the bridge must not leave with a loopback
		// source (KERNEL-NOTES §5).
		e = append(saddrIn(netip.MustParsePrefix("127.0.0.0/8")), ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge)...)
		add(post, comment, append(e, &expr.Masq{})...)
		// Hairpin: a container reaching a published port of a peer on the
		// same bridge through a host address.
		e = append(saddrIn(n.Subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge)...)
		e = append(e, ctDNAT()...)
		add(post, comment, append(e, &expr.Masq{})...)
	}
	return c.Flush()
}

// ipField loads the IPv4 header field at offset (12 saddr, 16 daddr).
func ipField(offset uint32) expr.Any {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

// saddrIn matches ip saddr p.
func saddrIn(p netip.Prefix) []expr.Any {
	mask := []byte(ipNet(p).Mask)
	return []expr.Any{
		ipField(12),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

// ifname matches iifname/oifname against name exactly (NUL-padded to
// IFNAMSIZ, as nft does; a shorter Data compares a prefix, which is how the
// "oifname bth-*" match is written).
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	data := make([]byte, unix.IFNAMSIZ)
	copy(data, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: data},
	}
}

// ctDNAT matches ct status dnat.
func ctDNAT() []expr.Any {
	const ipsDstNAT = 0x20
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}
