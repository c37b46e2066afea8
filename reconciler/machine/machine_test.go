package machine

import (
	"errors"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/spec"
)

func TestNetworkSpec(t *testing.T) {
	n := spec.Network{Key: "back", Name: "demo_back", Internal: true, Labels: map[string]string{"x": "y"},
		IPAM:       spec.IPAM{Config: []spec.IPAMPool{{Subnet: "10.99.0.0/24", Gateway: "10.99.0.1"}}},
		DriverOpts: map[string]string{"com.docker.network.driver.mtu": "1400"}}
	ns, err := NetworkSpec("demo", n)
	if err != nil {
		t.Fatal(err)
	}
	if ns.Name != "demo_back" || !ns.Internal || ns.Subnet != "10.99.0.0/24" || ns.Gateway != "10.99.0.1" || ns.MTU != 1400 {
		t.Errorf("%+v", ns)
	}
	if !reflect.DeepEqual(ns.Labels, map[string]string{"x": "y", reconciler.LabelProject: "demo", LabelNetwork: "back"}) {
		t.Errorf("labels %v", ns.Labels)
	}
	if n.Labels[reconciler.LabelProject] != "" {
		t.Error("input labels modified")
	}
	ext, _ := NetworkSpec("demo", spec.Network{Key: "pub", Name: "shared", External: true})
	if ext.Labels != nil || !ext.External {
		t.Errorf("external: %+v", ext)
	}
	for _, bad := range []spec.Network{
		{Key: "a", IPAM: spec.IPAM{Config: []spec.IPAMPool{{Subnet: "10.1.0.0/24"}, {Subnet: "10.2.0.0/24"}}}},
		{Key: "b", DriverOpts: map[string]string{"com.docker.network.driver.mtu": "big"}},
	} {
		if _, err := NetworkSpec("demo", bad); !errors.Is(err, reconciler.ErrInvalidArgument) {
			t.Errorf("%s: err %v", bad.Key, err)
		}
	}
}

func TestValidAliases(t *testing.T) {
	if got := validAliases([]string{"web", "", "demo-web-1", "web"}); !reflect.DeepEqual(got, []string{"web", "demo-web-1"}) {
		t.Fatalf("%v", got)
	}
}
