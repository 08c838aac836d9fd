/* version.h: the release, printed by --version. */
#ifndef GR_VERSION_H
#define GR_VERSION_H

#define GRIDROUTE_VERSION "0.1.0"

#endif
