package main

// What the ls and inspect commands show, as Docker's --filter, --format
// and -q work, and the prune commands' question: one implementation, so
// that every command accepts the same forms.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/spf13/cobra"
)

// Help of the --format flags that writeList and writeInspect serve.
const (
	listFormatHelp    = `output format: "table" (default), "json" (one object per line) or a Go template`
	inspectFormatHelp = `output format: "json" (one object per line) or a Go template (default: indented JSON array)`
)

// listTable says how an ls command shows its rows (of type T).
type listTable[T any] struct {
	// Header is the table's first line, columns separated by tabs.
	Header string
	// Cells is one row of the table, columns separated by tabs.
	Cells func(T) string
	// Quiet is what -q prints for a row; each distinct value once, in
	// order (an image listed once per tag is one ID).
	Quiet func(T) string
	// MinWidth is the table's minimum column width, padding included.
	MinWidth int
}

// writeList prints rows as an ls command: -q (quiet), or by format
// "table" or "" (aligned columns), "json" (one object per line), anything
// else a Go template run for each row ("table " before it is ignored).
func writeList[T any](w io.Writer, rows []T, format string, quiet bool, t listTable[T]) error {
	switch {
	case quiet:
		seen := map[string]bool{}
		for _, r := range rows {
			if q := t.Quiet(r); !seen[q] {
				seen[q] = true
				if _, err := fmt.Fprintln(w, q); err != nil {
					return err
				}
			}
		}
		return nil
	case format == "" || format == "table":
		tw := tabwriter.NewWriter(w, t.MinWidth, 1, 3, ' ', 0)
		fmt.Fprintln(tw, t.Header)
		for _, r := range rows {
			fmt.Fprintln(tw, t.Cells(r))
		}
		return tw.Flush()
	case format == "json":
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	default:
		return writeTemplate(w, rows, format)
	}
}

// listFilter is a parsed --filter list: values by key. Rows must match
// every key; a key given several times matches any of its values.
type listFilter map[string][]string

// parseListFilter reads key=value filters, refusing keys not in known.
func parseListFilter(fs []string, known ...string) (listFilter, error) {
	f := listFilter{}
	for _, s := range fs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("invalid filter %q: want key=value", s)
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("invalid filter %q: the filters are %s", s, strings.Join(known, ", "))
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

// match reports whether one(key, value) holds for some value of every key.
func (f listFilter) match(one func(key, value string) bool) bool {
	for k, vs := range f {
		if !slices.ContainsFunc(vs, func(v string) bool { return one(k, v) }) {
			return false
		}
	}
	return true
}

// matchLabel is Docker's label filter: "key" (present) or "key=value".
func matchLabel(labels map[string]string, filter string) bool {
	k, v, hasValue := strings.Cut(filter, "=")
	got, ok := labels[k]
	return ok && (!hasValue || got == v)
}

// inspectAll gets each named object and prints the ones found with
// writeInspect; those that failed are the command's error, after the
// output, as in Docker.
func inspectAll[T any](w io.Writer, names []string, format string, get func(name string) (T, error)) error {
	var out []T
	var errs []error
	for _, name := range names {
		v, err := get(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	if err := writeInspect(w, out, format); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// writeInspect prints the objects of an inspect command: by default an
// indented JSON array ("[]" when empty), "json" one compact object per
// line, anything else a Go template run for each object.
func writeInspect[T any](w io.Writer, items []T, format string) error {
	switch format {
	case "":
		if items == nil {
			items = []T{}
		}
		b, err := json.MarshalIndent(items, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "json":
		return writeTemplate(w, items, "{{json .}}")
	default:
		return writeTemplate(w, items, format)
	}
}

// writeTemplate runs the Go template format for each item, one line each.
func writeTemplate[T any](w io.Writer, items []T, format string) error {
	tmpl, err := template.New("format").Funcs(formatFuncs).Parse(strings.TrimPrefix(format, "table "))
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	for _, it := range items {
		var b strings.Builder
		if err := tmpl.Execute(&b, it); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		if _, err := fmt.Fprintln(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// formatFuncs are the template functions of Docker's --format that
// templates commonly use.
var formatFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"split": strings.Split,
}

// confirm prints warning and Docker's question, and reports whether the
// user answered y or yes on stdin (anything else, or nothing, is no).
func confirm(cmd *cobra.Command, warning string) bool {
	fmt.Fprintf(cmd.OutOrStdout(), "%s\nAre you sure you want to continue? [y/N] ", warning)
	answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}

// humanSize writes bytes with decimal units and four significant digits,
// as Docker does ("0B", "1.5kB", "64MB").
func humanSize(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return strconv.FormatFloat(f, 'g', 4, 64) + units[i]
}
