//go:build unix

package vault

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ownedByUs refuses a file or directory owned by a user other than the
// one the process runs as: its owner could change it at will.
func ownedByUs(path string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return fmt.Errorf("%s is owned by uid %d, not by the user checkoutd runs as (uid %d): chown it to that user", path, st.Uid, euid)
	}
	return nil
}
