// Package schemas holds the JSON Schema of what berth adds to the Compose
// Specification (pods.schema.json) and combines it with the Compose
// Specification schema that compose-go embeds, so that the repository
// never carries a copy of the latter. See README.md for how editors use it.
package schemas
