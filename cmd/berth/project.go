package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-dev/berth/spec"
	"github.com/sirupsen/logrus"
)

// warnOut receives manifest warnings (accepted-but-ignored settings, and
// compose-go's own, such as unset variables).
var warnOut io.Writer = os.Stderr

func init() {
	// compose-go reports some warnings through logrus; print them like ours.
	logrus.SetOutput(warnOut)
	logrus.SetFormatter(warnFormatter{})
}

type warnFormatter struct{}

func (warnFormatter) Format(e *logrus.Entry) ([]byte, error) {
	manifestWarned.Store(true)
	level := "warning"
	if e.Level < logrus.WarnLevel {
		level = "error"
	}
	return []byte("berth: " + level + ": " + strings.TrimSpace(e.Message) + "\n"), nil
}

// loadProject loads the project named by the global flags. Every project
// command uses it, so that -f, -p, --project-directory, --profile and
// --env-file mean the same everywhere. stdin is read for `-f -`.
// Warnings are printed to stderr; errors name file:line:col and key path.
func (g *globalOptions) loadProject(ctx context.Context, stdin io.Reader) (*spec.Project, error) {
	p, err := spec.Load(ctx, spec.LoadOptions{
		Files:            g.Files,
		ProjectName:      g.ProjectName,
		ProjectDirectory: g.ProjectDirectory,
		Profiles:         g.Profiles,
		EnvFiles:         g.EnvFiles,
		Stdin:            stdin,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		manifestWarned.Store(true)
		fmt.Fprintln(warnOut, "berth: warning:", w.String())
	}
	return p, nil
}
