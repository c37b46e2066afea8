package image

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testregistry"
)

func TestPushTaggedImage(t *testing.T) {
	testenv.RequireRoot(t)
	src := testregistry.StartInProcess(t, nil)
	dst := testregistry.StartInProcess(t, nil)
	src.Push(t, "p/app:1", busybox(t, nil, []F{{Name: "p", Body: "p"}}))
	s := openStore(t, Options{})
	ctx := context.Background()
	img, err := s.Pull(ctx, src.Ref("p/app:1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, src.Ref("p/app:1"), dst.Ref("copy/app:7")); err != nil {
		t.Fatal(err)
	}
	var updates int
	d, err := s.Push(ctx, dst.Ref("copy/app:7"), PushOptions{Progress: func(Progress) { updates++ }})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if updates == 0 {
		t.Error("no push progress")
	}
	got, _ := s.Get(ctx, img.ID)
	if !contains(got.RepoDigests, dst.Ref("copy/app")+"@"+d) {
		t.Errorf("push digest %s not recorded: %v", d, got.RepoDigests)
	}
	// The pushed copy pulls back as the same image.
	s2 := openStore(t, Options{})
	back, err := s2.Pull(ctx, dst.Ref("copy/app:7"), PullOptions{})
	if err != nil || back.ID != img.ID {
		t.Fatalf("pull of the pushed copy: %v %v", back, err)
	}
	if _, err := s.Push(ctx, dst.Ref("copy/app@"+d), PushOptions{}); err == nil {
		t.Error("push by digest accepted")
	}
	if _, err := s.Push(ctx, dst.Ref("nothing:1"), PushOptions{}); err == nil || !strings.Contains(err.Error(), "nothing:1") {
		t.Errorf("push of a missing image: %v", err)
	}
}
