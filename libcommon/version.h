/* version: the toolkit's version, printed by every tool's --version and
 * written into stream metadata and checkpoints. */
#ifndef LC_VERSION_H
#define LC_VERSION_H
#define LC_VERSION "0.1.0"
#define LC_TOOLKIT "sarface-tools"
#endif
