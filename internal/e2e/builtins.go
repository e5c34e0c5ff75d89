package e2e

import "github.com/gatehouse/gatehouse/internal/tools"

func builtins() []string { return tools.Names() }
