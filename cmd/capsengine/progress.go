package main

import (
	"io"

	"github.com/schollz/progressbar/v3"

	bars "github.com/capsengine/capsengine/internal/progress"
)

// progress is a bar on a terminal and nothing elsewhere.
type progress struct {
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, total int, what string) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	return &progress{bar: bars.Bar(w, int64(total), what, 0, false)}
}

func (p *progress) add() {
	if p.bar != nil {
		p.bar.Add(1)
	}
}

// clear erases the bar before a line of output; it redraws on the next add.
func (p *progress) clear() {
	if p.bar != nil {
		p.bar.Clear()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
