// Package leakcheck finds kernel objects that a test left behind: links,
// addresses, routes, nftables tables and mounts (network namespace handles
// among them). A test calls Check first thing; at cleanup, after everything
// else the test registered has run, the state is compared with the
// snapshot taken at the start and every new object the filter selects is
// reported as an error.
//
// Objects are described as one-line strings such as
//
//	link bth-0123456789 bridge
//	addr bth-0123456789 10.231.0.1/24
//	route 10.231.0.0/24 dev bth-0123456789
//	nft ip berth_test
//	mount /tmp/x/netns/c1 nsfs
//
// so that a filter can pick a test's own objects by name while other tests
// run in parallel on the same machine.
package leakcheck
