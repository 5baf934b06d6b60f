package bench

import (
	"errors"
	"fmt"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
)

// writeSeed fills a trusted store at dir with the answers of the n most
// popular documents of the workload: the seed a release would ship of the
// clients most people run. The answers come in client popularity order
// (the generator writes them so), each client's XEP-0115 document and,
// when it announces one, its XEP-0390 one. It returns the keys seeded.
func writeSeed(dir string, a *answers, n int) (map[hashing.Key]bool, error) {
	if a == nil {
		return nil, errors.New("bench: a seed needs the workload's answers")
	}
	tw, err := storage.OpenTrustedWriter(storage.Config{TrustedDir: dir})
	if err != nil {
		return nil, err
	}
	seeded := make(map[hashing.Key]bool, n)
	for i := 0; i < a.Len() && len(seeded) < n; i++ {
		in := a.info(int32(i))
		k, node, err := hashing.ParseQueryNode(in.Node)
		if err != nil {
			tw.Close()
			return nil, fmt.Errorf("bench: seed answer %d: %w", i, err)
		}
		e := &storage.Entry{Info: *in}
		if node != "" {
			e.Nodes = []string{node}
		}
		if err := tw.Put(k, e); err != nil {
			tw.Close()
			return nil, fmt.Errorf("bench: seed %s: %w", k, err)
		}
		seeded[k] = true
	}
	return seeded, tw.Close()
}
