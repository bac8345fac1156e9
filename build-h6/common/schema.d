build-h6/common/schema.o: common/schema.c common/schema.h common/err.h
common/schema.h:
common/err.h:
