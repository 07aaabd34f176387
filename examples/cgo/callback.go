package main

// A file with //export may only declare things in its preamble.

/*
#include "native.h"
*/
import "C"

// goPluginEvent is called from C (plugin_dispatch).
//
//export goPluginEvent
func goPluginEvent(event C.int) {
	plugin.onEvent(int(event))
}
