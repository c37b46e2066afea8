package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

type fmtRow struct {
	Name string `json:"Name"`
	ID   string `json:"ID"`
}

var fmtTable = listTable[fmtRow]{
	Header: "NAME\tID",
	Cells:  func(r fmtRow) string { return r.Name + "\t" + r.ID },
	Quiet:  func(r fmtRow) string { return r.ID },
}

func TestWriteList(t *testing.T) {
	t.Parallel()
	rows := []fmtRow{{"a", "1"}, {"bb<", "1"}, {"c", "2"}}
	wide := fmtTable
	wide.MinWidth = 10
	for _, tc := range []struct {
		format string
		quiet  bool
		table  listTable[fmtRow]
		want   string
	}{
		{"", false, fmtTable, "NAME   ID\na      1\nbb<    1\nc      2\n"},
		{"table", false, wide, "NAME      ID\na         1\nbb<       1\nc         2\n"},
		{"json", false, fmtTable, `{"Name":"a","ID":"1"}` + "\n" + `{"Name":"bb\u003c","ID":"1"}` + "\n" + `{"Name":"c","ID":"2"}` + "\n"},
		{"{{.Name}}={{.ID}}", false, fmtTable, "a=1\nbb<=1\nc=2\n"},
		{"table {{upper .Name}}", false, fmtTable, "A\nBB<\nC\n"},
		{"{{json .Name}}", false, fmtTable, "\"a\"\n\"bb\\u003c\"\n\"c\"\n"},
		{"json", true, fmtTable, "1\n2\n"}, // -q wins; each ID once
	} {
		var b bytes.Buffer
		if err := writeList(&b, rows, tc.format, tc.quiet, tc.table); err != nil {
			t.Errorf("%q quiet=%v: %v", tc.format, tc.quiet, err)
			continue
		}
		if b.String() != tc.want {
			t.Errorf("%q quiet=%v:\n%q\nwant\n%q", tc.format, tc.quiet, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	if err := writeList(&b, rows, "{{.Name", false, fmtTable); err == nil || !strings.HasPrefix(err.Error(), "--format: ") {
		t.Errorf("bad template: %v", err)
	}
	if err := writeList(&b, rows, "{{.Nope}}", false, fmtTable); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("template naming a missing field: %v", err)
	}
	b.Reset()
	if err := writeList(&b, nil, "", false, fmtTable); err != nil || b.String() != "NAME   ID\n" {
		t.Errorf("empty table = %q, %v", b.String(), err)
	}
}

func TestWriteInspect(t *testing.T) {
	t.Parallel()
	items := []fmtRow{{"a", "1"}, {"b", "2"}}
	for _, tc := range []struct {
		items  []fmtRow
		format string
		want   string
	}{
		{items, "", "[\n    {\n        \"Name\": \"a\",\n        \"ID\": \"1\"\n    },\n    {\n        \"Name\": \"b\",\n        \"ID\": \"2\"\n    }\n]\n"},
		{nil, "", "[]\n"},
		{items, "json", `{"Name":"a","ID":"1"}` + "\n" + `{"Name":"b","ID":"2"}` + "\n"},
		{nil, "json", ""},
		{items, "{{.ID}}", "1\n2\n"},
	} {
		var b bytes.Buffer
		if err := writeInspect(&b, tc.items, tc.format); err != nil || b.String() != tc.want {
			t.Errorf("%q on %d items = %q, %v; want %q", tc.format, len(tc.items), b.String(), err, tc.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[uint64]string{0: "0B", 999: "999B", 1000: "1kB", 1500: "1.5kB", 64 << 20: "67.11MB", 3e12: "3TB", 999_999: "1000kB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " y \n": true, "n\n": false, "": false, "yes please\n": false, "yep": false} {
		c := &cobra.Command{}
		var out bytes.Buffer
		c.SetOut(&out)
		c.SetIn(strings.NewReader(in))
		if got := confirm(c, "WARNING! x."); got != want {
			t.Errorf("answer %q: confirm = %v, want %v", in, got, want)
		}
		if out.String() != "WARNING! x.\nAre you sure you want to continue? [y/N] " {
			t.Errorf("prompt = %q", out.String())
		}
	}
}
