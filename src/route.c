/* route.c: being written */
