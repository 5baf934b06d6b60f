package main

import "os"

// openRegular opens a file for reading and refuses anything but a regular
// file (after symbolic links) with a *notRegularError. A named pipe would
// block the open until some writer came along, and a device such as
// /dev/zero never ends; the open itself must not block, so the file is
// opened without waiting (openNoWait) and checked through the open handle,
// which also leaves no window for the name to change in between.
func openRegular(name string) (*os.File, error) {
	f, err := openNoWait(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &notRegularError{path: name, mode: st.Mode()}
	}
	return f, nil
}
