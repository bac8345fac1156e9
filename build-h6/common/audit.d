build-h6/common/audit.o: common/audit.c common/audit.h common/err.h \
 common/log.h common/secret.h common/util.h
common/audit.h:
common/err.h:
common/log.h:
common/secret.h:
common/util.h:
