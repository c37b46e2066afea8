package spec

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// parsePortRange parses "80" or "8000-8010". An empty string is the zero
// range.
func parsePortRange(s string) (PortRange, error) {
	if s == "" {
		return PortRange{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	start, err := parsePort(lo)
	if err != nil {
		return PortRange{}, err
	}
	end := start
	if isRange {
		if end, err = parsePort(hi); err != nil {
			return PortRange{}, err
		}
		if end < start {
			return PortRange{}, fmt.Errorf("range %q ends before it starts", s)
		}
	}
	return PortRange{Start: start, End: end}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return uint16(n), nil
}

// ParsePortSpec parses Compose's short port syntax,
// [[host_ip:]published[-end]:]target[-end][/protocol], into one mapping per
// target port. A published range as long as the target range maps port to
// port; a published range for a single target means "any free port in the
// range".
func ParsePortSpec(spec string) ([]PortMapping, error) {
	rest, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" {
		return nil, fmt.Errorf("invalid port %q: protocol %q not supported (tcp or udp)", spec, proto)
	}
	var hostIP, published, target string
	if strings.HasPrefix(rest, "[") { // [v6]:published:target
		end := strings.Index(rest, "]")
		if end < 0 {
			return nil, fmt.Errorf("invalid port %q: unclosed [ in host IP", spec)
		}
		hostIP = rest[1:end]
		rest = strings.TrimPrefix(rest[end+1:], ":")
		var ok bool
		published, target, ok = strings.Cut(rest, ":")
		if !ok {
			return nil, fmt.Errorf("invalid port %q: want [host_ip]:published:target", spec)
		}
	} else {
		parts := strings.Split(rest, ":")
		switch len(parts) {
		case 1:
			target = parts[0]
		case 2:
			published, target = parts[0], parts[1]
		case 3:
			hostIP, published, target = parts[0], parts[1], parts[2]
		default:
			return nil, fmt.Errorf("invalid port %q: too many colons (use [v6addr]:published:target for IPv6)", spec)
		}
	}
	if hostIP != "" {
		if _, err := netip.ParseAddr(hostIP); err != nil {
			return nil, fmt.Errorf("invalid port %q: host IP %q is not an IP address", spec, hostIP)
		}
	}
	tr, err := parsePortRange(target)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q: target: %w", spec, err)
	}
	if tr.IsZero() {
		return nil, fmt.Errorf("invalid port %q: no target port", spec)
	}
	pr, err := parsePortRange(published)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q: published: %w", spec, err)
	}
	n := int(tr.End-tr.Start) + 1
	if !pr.IsZero() && n > 1 && int(pr.End-pr.Start)+1 != n {
		return nil, fmt.Errorf("invalid port %q: published range has %d ports, target range %d", spec, int(pr.End-pr.Start)+1, n)
	}
	out := make([]PortMapping, 0, n)
	for i := 0; i < n; i++ {
		m := PortMapping{HostIP: hostIP, Target: tr.Start + uint16(i), Protocol: proto, Published: pr}
		if !pr.IsZero() && n > 1 {
			p := pr.Start + uint16(i)
			m.Published = PortRange{Start: p, End: p}
		}
		out = append(out, m)
	}
	return out, nil
}

// String renders the mapping in the short syntax.
func (m PortMapping) String() string {
	var b strings.Builder
	if m.HostIP != "" {
		if strings.Contains(m.HostIP, ":") {
			b.WriteString("[" + m.HostIP + "]:")
		} else {
			b.WriteString(m.HostIP + ":")
		}
	}
	if !m.Published.IsZero() {
		b.WriteString(m.Published.String() + ":")
	} else if m.HostIP != "" {
		b.WriteString(":")
	}
	fmt.Fprintf(&b, "%d/%s", m.Target, m.Protocol)
	return b.String()
}

// String renders "80" or "8000-8010".
func (r PortRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(int(r.Start))
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}
