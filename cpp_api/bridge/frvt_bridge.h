/* C/C++ view of the bridge declarations (see frvt_bridge_decls.h). */
#ifndef FRVT_BRIDGE_H
#define FRVT_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "frvt_bridge_decls.h"
#ifdef __cplusplus
}
#endif

#endif
