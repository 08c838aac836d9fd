/* yamldoc.c: being written */
