// Command vault is HashiCorp Vault's own CLI and server, built from the Go
// module proxy so that tests can run a real `vault server -dev` on loopback.
// It is a test tool: the product does not ship it.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
