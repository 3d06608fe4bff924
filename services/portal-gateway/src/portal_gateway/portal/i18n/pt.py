# Typographic apostrophes and dashes are intended in translations.
# ruff: noqa: RUF001
"""Portuguese (Brazilian usage, addressing the customer as "você")."""

from portal_gateway.portal.i18n.catalog import Messages

PT = Messages(
    portal_name="Portal de cobrança",
    skip_to_content="Pular para o conteúdo principal",
    return_to_merchant="Voltar para {merchant}",
    sign_out="Sair",
    language="Idioma",
    contact_support="Dúvidas sobre sua cobrança? Escreva para {email}.",
    footer_security=(
        "Esta página é privada. Para sua segurança, a sessão é encerrada após uma hora sem "
        "atividade."
    ),
    merchant_fallback="a empresa",
    overview_heading="Gerencie sua cobrança",
    signed_in_as="Conectado como {name} ({email})",
    subscriptions_heading="Assinaturas",
    no_subscriptions="Você não tem nenhuma assinatura com {merchant}.",
    price_month="{amount} por mês",
    price_year="{amount} por ano",
    status_active="Ativa",
    status_on_hold="Em espera",
    status_canceled="Cancelada",
    status_incomplete="Pagamento pendente",
    status_incomplete_expired="Não iniciada",
    status_ending="Encerrando",
    next_charge_label="Próxima cobrança",
    next_charge_value="{amount} em {date}",
    current_period_label="Período atual",
    period_range="{start} – {end}",
    payment_method_label="Método de pagamento",
    ends_on_label="Termina em",
    canceled_on_label="Cancelada em",
    ends_on_notice=(
        "Sua assinatura foi cancelada e termina em {date}. Você mantém o acesso até lá e não "
        "será cobrado novamente."
    ),
    canceled_notice="Esta assinatura foi cancelada em {date}. Você não será cobrado novamente.",
    on_hold_notice=(
        "Seu último pagamento não foi concluído, por isso esta assinatura está em espera. "
        "Troque o cartão abaixo ou entre em contato com {merchant} se precisar de ajuda."
    ),
    incomplete_notice="Estamos aguardando a confirmação do seu primeiro pagamento.",
    incomplete_expired_notice=(
        "O primeiro pagamento falhou, então esta assinatura não foi iniciada. Você não foi cobrado."
    ),
    cancel_subscription="Cancelar assinatura",
    payment_methods_heading="Métodos de pagamento",
    card_generic="Cartão",
    card_ending="{brand} com final {last4}",
    card_expires="Vence em {expiry}",
    card_expired="Venceu em {expiry}",
    card_expiring_soon="Vence em breve",
    no_payment_methods="Nenhum método de pagamento cadastrado.",
    invoices_heading="Histórico de faturas",
    invoices_caption="Suas faturas, da mais recente para a mais antiga",
    col_date="Data",
    col_number="Número",
    col_amount="Valor",
    col_status="Status",
    col_plan="Plano",
    invoice_status_paid="Paga",
    invoice_status_open="Em aberto",
    invoice_status_uncollectible="Não paga",
    invoice_status_void="Anulada",
    invoice_status_draft="Rascunho",
    no_invoices="Ainda não há faturas.",
    cancel_title="Cancelar sua assinatura",
    cancel_intro=(
        "Que pena que você vai embora. Contar o motivo é opcional e ajuda {merchant} a melhorar."
    ),
    reason_legend="Por que você está cancelando?",
    optional="(opcional)",
    reason_too_expensive="É caro demais",
    reason_missing_features="Faltam recursos de que preciso",
    reason_switched_service="Vou mudar para outro serviço",
    reason_unused="Não uso o suficiente",
    reason_customer_service="O atendimento ao cliente deixou a desejar",
    reason_too_complex="É complicado demais de usar",
    reason_low_quality="A qualidade não foi a que eu esperava",
    reason_other="Outro motivo",
    comment_label="Quer nos contar mais alguma coisa?",
    comment_hint="Até {max} caracteres.",
    continue_button="Continuar",
    keep_subscription="Manter minha assinatura",
    back="Voltar",
    confirm_title="Confirmar cancelamento",
    confirm_now_summary=(
        "Sua assinatura de {plan} termina imediatamente e você perde o acesso agora mesmo."
    ),
    confirm_period_end_summary=(
        "Sua assinatura de {plan} continua ativa até {date} e depois termina. Ela não será "
        "renovada."
    ),
    confirm_no_charge="Você não será cobrado novamente por esta assinatura.",
    confirm_reason_label="Seu motivo",
    confirm_comment_label="Seu comentário",
    no_reason_given="Nenhum motivo informado",
    confirm_button="Confirmar cancelamento",
    form_has_errors="Corrija o campo indicado abaixo.",
    error_reason_invalid="Escolha um dos motivos da lista.",
    error_comment_too_long="Seu comentário é longo demais: o máximo é de {max} caracteres.",
    notice_canceled="Sua assinatura de {plan} foi cancelada.",
    notice_cancel_scheduled=(
        "Sua assinatura de {plan} termina em {date}. Você não será cobrado novamente."
    ),
    notice_already_canceled="Esta assinatura já estava cancelada.",
    notice_not_cancelable="Esta assinatura não pode mais ser cancelada.",
    notice_cancel_rejected=(
        "Não conseguimos cancelar sua assinatura e nada foi alterado. Tente novamente ou entre "
        "em contato com {merchant} se o problema continuar."
    ),
    notice_cancel_pending=(
        "Recebemos seu cancelamento e ainda estamos processando. Atualize esta página em "
        "instantes para vê-lo."
    ),
    notice_unavailable=(
        "Não conseguimos acessar o sistema de cobrança, então nada foi alterado. Tente "
        "novamente em instantes."
    ),
    link_expired_title="Este link expirou",
    link_expired_body=(
        "Para sua segurança, os links do portal de cobrança funcionam só por alguns minutos. "
        "Volte para {merchant} e abra o portal de cobrança novamente."
    ),
    link_used_title="Este link já foi usado",
    link_used_body=(
        "Para sua segurança, cada link do portal de cobrança funciona uma única vez. Volte para "
        "{merchant} e abra o portal de cobrança novamente para receber um novo link."
    ),
    link_unknown_title="Não encontramos este link",
    link_unknown_body=(
        "O link pode estar incompleto ou digitado errado. Volte para onde você o recebeu e "
        "abra o portal de cobrança novamente."
    ),
    session_ended_title="Sua sessão terminou",
    session_ended_body=(
        "Para sua segurança, a sessão é encerrada após uma hora sem atividade. Volte para "
        "{merchant} e abra o portal de cobrança novamente."
    ),
    signed_out_title="Você saiu",
    signed_out_body=(
        "Obrigado pela visita. Para retornar, vá até {merchant} e abra o portal de cobrança."
    ),
    no_session_title="Você não está conectado",
    no_session_body=(
        "Para gerenciar sua cobrança, volte para {merchant} e abra o portal de cobrança."
    ),
    not_found_title="Página não encontrada",
    not_found_body="Esta página não existe ou não está disponível para sua conta.",
    back_to_overview="Voltar ao resumo da cobrança",
    account_unavailable_title="Não podemos mostrar sua conta agora",
    account_unavailable_body=(
        "Os dados da sua conta ainda não estão disponíveis. Tente novamente em instantes."
    ),
    csrf_title="Este formulário expirou",
    csrf_body=(
        "Para sua segurança, não pudemos aceitar este formulário. Volte, recarregue a página e "
        "tente novamente."
    ),
    bad_request_title="Não conseguimos processar esta solicitação",
    bad_request_body="Volte e tente novamente.",
    error_title="Algo deu errado",
    error_body=(
        "Tente novamente em instantes. Se o problema continuar, entre em contato com "
        "{merchant} e informe a referência {reference}."
    ),
    change_card="Trocar cartão",
    payment_method_title="Alterar método de pagamento",
    payment_method_intro=(
        "Escolha o cartão em que sua assinatura {plan} será cobrada a partir de agora."
    ),
    current_card_label="Cobrada atualmente em",
    no_current_card="Nenhum cartão cadastrado",
    saved_cards_legend="Seus cartões salvos",
    card_current_tag="Atual",
    use_saved_card_button="Usar este cartão",
    new_card_heading="Adicionar um cartão novo",
    new_card_privacy=(
        "Os dados do seu cartão vão direto para o nosso processador de pagamentos. Guardamos "
        "apenas a bandeira, os 4 últimos dígitos e a validade."
    ),
    card_number_label="Número do cartão",
    card_expiry_legend="Validade",
    card_exp_month_label="Mês (MM)",
    card_exp_year_label="Ano (AAAA)",
    card_cvc_label="Código de segurança (CVC)",
    card_cvc_hint="3 dígitos no verso do cartão; 4 na frente, no caso do American Express.",
    save_card_button="Salvar e usar este cartão",
    error_choose_card="Escolha um dos seus cartões.",
    error_card_number="Este número de cartão não é válido. Confira e tente novamente.",
    error_card_exp_month="Informe o mês de validade com um número de 1 a 12.",
    error_card_exp_year="Informe o ano de validade que aparece no cartão, com quatro dígitos.",
    error_card_expired="Este cartão está vencido. Use outro cartão.",
    error_card_cvc="Informe o código de segurança: 3 dígitos, ou 4 no American Express.",
    error_card_cvc_incorrect="O código de segurança está incorreto. Confira e tente novamente.",
    error_card_declined="Seu cartão foi recusado. Use outro cartão.",
    error_card_processing=(
        "Não conseguimos verificar seu cartão agora. Tente novamente em instantes."
    ),
    error_card_reenter=(
        "Para sua segurança, informe novamente o número do cartão e o código de segurança."
    ),
    error_saved_card_expired="Este cartão está vencido. Escolha outro cartão ou adicione um novo.",
    error_saved_card_missing=(
        "Este cartão não está mais disponível. Escolha outro cartão ou adicione um novo."
    ),
    error_card_change_rejected=(
        "Não conseguimos alterar seu método de pagamento e nada foi alterado. Tente novamente "
        "ou entre em contato com {merchant} se o problema continuar."
    ),
    test_clock_notice=(
        "Modo de teste: o relógio de cobrança de {merchant} está em {date}. As datas e "
        "renovações desta página seguem esse relógio."
    ),
    notice_card_updated=(
        "A partir de agora, sua assinatura {plan} será cobrada no seu cartão {brand} com final "
        "{last4}."
    ),
    notice_card_unchanged="Esse cartão já paga sua assinatura {plan}, então nada foi alterado.",
    notice_card_subscription_ended=(
        "Esta assinatura foi encerrada, então o método de pagamento dela não pode mais ser "
        "alterado."
    ),
    notice_card_pending=(
        "Recebemos seu cartão e ainda estamos processando a alteração. Atualize esta página em "
        "instantes para vê-la."
    ),
)
