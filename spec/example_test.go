package spec_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/spec"
)

// Load a manifest (here from stdin) and walk the normalized model.
func ExampleLoad() {
	manifest := `
services:
  web:
    image: adminer:4
    ports: ["8080:8080"]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: mariadb:11.4
    healthcheck:
      test: ["CMD", "healthcheck.sh", "--connect"]
`
	p, err := spec.Load(context.Background(), spec.LoadOptions{
		Files:       []string{"-"},
		Stdin:       strings.NewReader(manifest),
		ProjectName: "demo",
		Environment: []string{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range p.Services {
		fmt.Println(s.Name, s.Image, s.Networks[0].Name)
		for _, dep := range s.DependencyNames() {
			fmt.Println("  waits for", dep, s.DependsOn[dep].Condition)
		}
		for _, port := range s.Ports {
			fmt.Println("  publishes", port)
		}
	}
	// Output:
	// db mariadb:11.4 default
	// web adminer:4 default
	//   waits for db service_healthy
	//   publishes 8080:8080/tcp
}

// Errors name the file, line, column and key path.
func ExampleError() {
	_, err := spec.Load(context.Background(), spec.LoadOptions{
		Files:       []string{"-"},
		Stdin:       strings.NewReader("services:\n  web:\n    image: x\n    ports: [\"80:abc\"]\n"),
		ProjectName: "demo",
		Environment: []string{},
	})
	fmt.Println(err)
	// Output:
	// <stdin>:4:13: services.web.ports[0]: invalid port "80:abc": target: "abc" is not a port number
}
