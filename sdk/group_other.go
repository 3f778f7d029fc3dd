//go:build !unix

package sdk

import "os"

func endGroup(code int, hard bool) { os.Exit(code) }
