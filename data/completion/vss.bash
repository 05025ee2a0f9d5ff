# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bash completion for the vss-linux programs. Installed once under each program's name; it
# completes options from the program's own --help, so it never falls behind a new flag, and
# the first word of vssadmin/vssbackup from their verbs.

_vss_options() {
        "$1" --help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]*=?' | sort -u
}

_vss_complete() {
        local cur prev words cword
        _init_completion -s 2>/dev/null || {
                cur=${COMP_WORDS[COMP_CWORD]}
                prev=${COMP_WORDS[COMP_CWORD-1]}
                cword=$COMP_CWORD
        }
        local prog=${COMP_WORDS[0]}

        if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$(_vss_options "$prog")" -- "$cur"))
                [[ ${COMPREPLY-} == *= ]] && compopt -o nospace
                return
        fi
        case ${prog##*/} in
        vssadmin)
                if [[ $cword -eq 1 ]]; then
                        COMPREPLY=($(compgen -W "list create delete expose unexpose" -- "$cur"))
                        return
                fi
                if [[ $cword -eq 2 && ${COMP_WORDS[1]} == list ]]; then
                        COMPREPLY=($(compgen -W "writers providers shadows volumes" -- "$cur"))
                        return
                fi
                ;;
        vssbackup)
                if [[ $cword -eq 1 ]]; then
                        COMPREPLY=($(compgen -W "backup list ls verify restore prune" -- "$cur"))
                        return
                fi
                ;;
        esac
        COMPREPLY=($(compgen -f -- "$cur"))
}

complete -F _vss_complete vssd vssadmin vshadow vssbackup vss-writer-sqlite vss-writer-postgresql \
        vss-writer-mariadb vss-writer-script
