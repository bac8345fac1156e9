build-h6/common/json.o: common/json.c common/json.h common/err.h \
 common/buf.h
common/json.h:
common/err.h:
common/buf.h:
