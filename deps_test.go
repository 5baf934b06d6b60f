package capsengine_test

import (
	"os/exec"
	"strings"
	"testing"
)

// An engine that runs alone carries no cluster: protoactor's cluster and
// remote, gRPC, the etcd client and echo stay in package cluster, which
// the root package does not import (issue 13).
func TestNoClusterInTheEmbed(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"google.golang.org/grpc", "go.etcd.io/", "github.com/labstack/",
			"github.com/asynkron/protoactor-go/cluster", "github.com/asynkron/protoactor-go/remote",
			"github.com/capsengine/capsengine/cluster",
		} {
			if strings.HasPrefix(p, banned) {
				t.Errorf("the root package's closure holds %s", p)
			}
		}
	}
}
