build-h6/gateway/config.o: gateway/config.c gateway/config.h \
 gateway/../common/err.h gateway/../common/secret.h \
 gateway/../common/err.h gateway/../common/conf.h \
 gateway/../common/json.h gateway/../common/log.h gateway/session.h
gateway/config.h:
gateway/../common/err.h:
gateway/../common/secret.h:
gateway/../common/err.h:
gateway/../common/conf.h:
gateway/../common/json.h:
gateway/../common/log.h:
gateway/session.h:
