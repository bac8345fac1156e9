build-h6/gen/adapters/gateway/tools_json.o: \
 build-h6/gen/adapters/gateway/tools_json.c
