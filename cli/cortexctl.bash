# bash completion for cortexctl (Cortex's command line).
# Installed as /usr/share/bash-completion/completions/cortexctl by make install; or, in a shell:
#   source <(cortexctl completion bash)
_cortexctl()
{
	local cur prev cmd="" sub="" i w opts
	local global="--url --token-file --local --config --json --timeout --verbose --help --version"
	local -a conn=() # the options that say where the tools are, for tool names
	cur="${COMP_WORDS[COMP_CWORD]}"
	prev="${COMP_WORDS[COMP_CWORD-1]}"

	# The command (and task's subcommand) typed so far, skipping options and their values.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w="${COMP_WORDS[i]}"
		case "$w" in
		--url | --token-file | --config)
			conn+=("$w" "${COMP_WORDS[i+1]}")
			((i++))
			continue
			;;
		--local)
			conn+=("$w")
			continue
			;;
		--timeout | --args | --category | --priority | --title | --status | --limit | --reason)
			((i++))
			continue
			;;
		-*) continue ;;
		esac
		if [[ -z $cmd ]]; then
			cmd=$w
		elif [[ ($cmd == task || $cmd == help || $cmd == call) && -z $sub ]]; then
			sub=$w
		fi
	done

	# call's first word: the tools the gateway (or --local config) offers, asked for now.
	if [[ $cmd == call && -z $sub && $cur != -* ]]; then
		opts=$("${COMP_WORDS[0]}" "${conn[@]}" --timeout 5 tools --json 2>/dev/null |
			sed -n 's/^    "name": "\([^"]*\)",\{0,1\}$/\1/p')
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi

	case "$prev" in
	--config | --token-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--category)
		COMPREPLY=($(compgen -W "development security infrastructure inventory cicd general" -- "$cur"))
		return
		;;
	--status)
		COMPREPLY=($(compgen -W "queued in_progress awaiting_approval completed failed cancelled" -- "$cur"))
		return
		;;
	--priority)
		COMPREPLY=($(compgen -W "1 2 3 4 5" -- "$cur"))
		return
		;;
	--url | --timeout | --title | --limit | --reason | --args)
		return
		;;
	esac

	case "$cmd" in
	"") opts="tools call task approve status completion help" ;;
	tools | status) opts="" ;;
	call) opts="--args" ;;
	approve) opts="--deny --reason" ;;
	completion) opts="bash" ;;
	help)
		if [[ -z $sub ]]; then
			opts="tools call task approve status completion"
		elif [[ $sub == task ]]; then
			opts="create list show watch"
		fi
		;;
	task)
		case "$sub" in
		"") opts="create list show watch" ;;
		create) opts="--category --priority --title --wait" ;;
		list) opts="--status --category --limit" ;;
		show | watch) opts="" ;;
		esac
		;;
	esac
	# --json and the other options every command takes are in $global.
	COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
}
complete -F _cortexctl cortexctl
