# bash completion for hostkitctl(1). hostkitctl itself says what may come next
# (`hostkitctl __complete WORD... CURRENT`), so every command and its flags complete.

_hostkitctl() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -n =: || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    case $prev in
    -H | --host | -host)
        if [[ $cur == @* ]]; then
            local IFS=$'\n'
            COMPREPLY=($(compgen -f -P @ -- "${cur#@}"))
        elif declare -F _known_hosts_real >/dev/null; then
            _known_hosts_real -a -- "$cur"
        else
            COMPREPLY=($(compgen -A hostname -- "$cur"))
        fi
        return
        ;;
    esac
    local IFS=$'\n'
    COMPREPLY=($("${words[0]}" __complete "${words[@]:1:cword-1}" "$cur" 2>/dev/null))
}
complete -F _hostkitctl hostkitctl
