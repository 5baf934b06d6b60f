// Package progress is the one progress bar the commands draw: the
// same look, rate and throttle for an import and a benchmark.
package progress

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Bar draws a bar of total steps described by desc on w, a terminal,
// redrawn at most every 100 ms, with the count and the time left. width 0
// is the library's default. When keep is false the bar is erased once
// finished, as a tool that prints a summary after it wants; otherwise
// the finished bar stays, followed by a newline.
func Bar(w io.Writer, total int64, desc string, width int, keep bool) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
	}
	if width > 0 {
		opts = append(opts, progressbar.OptionSetWidth(width))
	}
	if keep {
		opts = append(opts, progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }))
	} else {
		opts = append(opts, progressbar.OptionClearOnFinish())
	}
	return progressbar.NewOptions64(total, opts...)
}
