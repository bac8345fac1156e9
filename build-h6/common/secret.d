build-h6/common/secret.o: common/secret.c common/secret.h common/err.h \
 common/log.h
common/secret.h:
common/err.h:
common/log.h:
