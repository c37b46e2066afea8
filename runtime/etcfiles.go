package runtime

import (
	"bufio"
	"strings"
)

func defaultHosts(hostname, domain string) string {
	names := hostname
	if domain != "" {
		names = hostname + "." + domain + " " + hostname
	}
	return "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
		"127.0.1.1\t" + names + "\n"
}

// filterResolvConf drops loopback nameservers (they would point into the
// container's own netns) as Docker does; with none left, it adds nothing
// (a container without network needs none).
func filterResolvConf(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
