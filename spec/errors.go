package spec

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error about a bad manifest (as opposed to,
// say, an unreadable file), so callers can tell the user's mistake from an
// environment problem with errors.Is.
var ErrInvalid = errors.New("invalid manifest")

// Error is a problem in a manifest, located as precisely as berth can:
// file, line, column and key path. Its message reads
// "file:line:col: key.path: message".
type Error struct {
	File    string // as given on the command line or relative to the working dir; "" when unknown
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based; 0 when unknown
	Path    string // key path, e.g. services.web.ports[0]; "" when not about one key
	Message string
	Err     error // underlying cause, if any
}

func (e *Error) Error() string {
	return formatLocated(e.File, e.Line, e.Column, e.Path, e.Message)
}

// Unwrap returns ErrInvalid and the cause, so errors.Is(err, ErrInvalid)
// holds for every manifest error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

func formatLocated(file string, line, col int, path, msg string) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		if line > 0 {
			fmt.Fprintf(&b, ":%d", line)
			if col > 0 {
				fmt.Fprintf(&b, ":%d", col)
			}
		}
		b.WriteString(": ")
	}
	if path != "" {
		b.WriteString(path)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.String()
}
